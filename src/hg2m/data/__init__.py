"""Raw loaders, the Parquet snapshot format, its validation, and DGL graph building."""
