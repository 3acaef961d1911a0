"""Data: raw loaders (`raw/`), the Parquet snapshot format and its column schema (`snapshot`), its Great
Expectations validation (`validation`), DGL graph building (`graph`), growing and synthetic snapshots."""
