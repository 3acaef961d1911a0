"""What is known about a dataset's graph before anything trains: its schema and the size of each split.

hg2m.plan checks a run against these facts, so that an impossible run (a meta-path through a type the
graph lacks, an empty split, a featureless target for a features-only student) stops with one line before
the first epoch. For a snapshot folder they come from its manifest and its target table's `split` column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from hg2m.data.snapshot import (
    LABELLED_SPLITS,
    SPLIT_COLUMN,
    GraphSnapshot,
    NodeTypeInfo,
    RelationInfo,
    SnapshotManifest,
    read_manifest,
    read_parquet,
)


class GraphFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # where the graph comes from, for messages: a snapshot folder or a raw-data folder
    target_type: str
    node_types: dict[str, NodeTypeInfo]
    relations: list[RelationInfo]
    split_counts: dict[str, int]  # labelled target nodes per split

    def has_features(self, node_type: str) -> bool:
        return self.node_types[node_type].feature_format != "none"


def facts(manifest: SnapshotManifest, split: np.ndarray, source: str) -> GraphFacts:
    names, counts = np.unique(split, return_counts=True)
    found = dict(zip(names.tolist(), counts.tolist()))
    return GraphFacts(source=source, target_type=manifest.target_type, node_types=manifest.node_types,
                      relations=manifest.relations, split_counts={s: int(found.get(s, 0)) for s in LABELLED_SPLITS})


def snapshot_facts(snapshot: GraphSnapshot, source: str) -> GraphFacts:
    split = snapshot.target_table().column(SPLIT_COLUMN).to_numpy(zero_copy_only=False)
    return facts(snapshot.manifest, split, source)


def folder_facts(folder: Path) -> GraphFacts:
    """Facts of a snapshot folder, reading its manifest and one column of its target table."""
    manifest = read_manifest(folder)
    path = Path(folder) / "nodes" / f"{manifest.target_type}.parquet"
    column = read_parquet(path, lambda p: pq.read_table(p, columns=[SPLIT_COLUMN])).column(0)
    return facts(manifest, pc.cast(column, "string").to_numpy(zero_copy_only=False), str(path))
