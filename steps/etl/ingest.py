"""Raw files -> canonical Parquet snapshot (a versioned artifact)."""

from typing import Annotated

from zenml import log_metadata, step

from hg2m.config import DatasetConfig
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import GraphSnapshot
from steps.materializers import GraphSnapshotMaterializer


@step(output_materializers=GraphSnapshotMaterializer)
def ingest_snapshot(dataset: DatasetConfig, raw_fingerprint: str) -> Annotated[GraphSnapshot, "snapshot"]:
    """`raw_fingerprint` (a hash of the raw files) is a parameter so that changed files bust the cache."""
    snapshot = load_raw_dataset(dataset)
    for cast in snapshot.casts:
        print(f"Snapshot column cast to the snapshot's type: {cast}")
    log_metadata(metadata={"raw_fingerprint": raw_fingerprint, "content_hash": snapshot.manifest.content_hash,
                           "casts": snapshot.casts})
    return snapshot
