"""Growing graph snapshots: the same graph "as it was" when only a prefix of each node type existed.

A subset keeps, for every node type, the nodes with id < ceil(fraction * count) and the edges between
kept nodes. Ids are not renumbered, so a larger subset extends a smaller one with the same ids and the
same rows: a sequence of subsets looks like one graph growing over time, which is what retraining
tests and demos need. Fraction 1.0 reproduces the original snapshot, content hash included.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hg2m.data.snapshot import (
    DST_COLUMN,
    ID_COLUMN,
    LABELLED_SPLITS,
    SPLIT_COLUMN,
    SRC_COLUMN,
    GraphSnapshot,
    RelationInfo,
    with_hash,
    write_snapshot,
)


def grow_subset(snapshot: GraphSnapshot, fraction: float) -> GraphSnapshot:
    """The snapshot restricted to the first `fraction` of every node type (ids and rows unchanged)."""
    _check_fraction(fraction)
    manifest = snapshot.manifest
    kept = {t: kept_count(info.count, fraction) for t, info in manifest.node_types.items()}
    nodes = {t: _prefix_rows(table, kept[t]) for t, table in snapshot.nodes.items()}
    relations = [_relation_subset(snapshot.edges[r.name], r, kept) for r in manifest.relations]
    edges = {r.name: table for r, table in relations}
    subset = manifest.model_copy(
        update={
            "node_types": {t: info.model_copy(update={"count": kept[t]}) for t, info in manifest.node_types.items()},
            "relations": [r for r, _ in relations],
            "content_hash": "",
        }
    )
    _check_splits(nodes[manifest.target_type], manifest.target_type, fraction)
    return with_hash(GraphSnapshot(manifest=subset, nodes=nodes, edges=edges))


def snapshot_sequence(snapshot: GraphSnapshot, fractions: list[float]) -> list[GraphSnapshot]:
    """One subset per fraction; fractions must be strictly increasing, each in (0, 1]."""
    if not fractions:
        raise ValueError("fractions: need at least one fraction")
    for fraction in fractions:
        _check_fraction(fraction)
    if any(b <= a for a, b in zip(fractions, fractions[1:])):
        raise ValueError(f"fractions must be strictly increasing, got {fractions}")
    return [grow_subset(snapshot, fraction) for fraction in fractions]


def write_sequence(snapshots: list[GraphSnapshot], out_dir: Path, prefix: str) -> list[Path]:
    """Write snapshot i to out_dir/<prefix>-<i:03d> (zero-padded: names sort in time order)."""
    if not prefix or "/" in prefix or "\\" in prefix:
        raise ValueError(f"prefix must be a non-empty folder name, got {prefix!r}")
    folders = [Path(out_dir) / f"{prefix}-{i:03d}" for i in range(len(snapshots))]
    # Check every folder before writing any, so a refusal leaves no half-written sequence behind.
    for folder in folders:
        _refuse_existing(folder)
    for snapshot, folder in zip(snapshots, folders):
        write_snapshot(snapshot, folder)
    return folders


def kept_count(count: int, fraction: float) -> int:
    """How many nodes of a type with `count` nodes exist at `fraction`: ceil, at least 1 if any."""
    if count == 0:
        return 0
    # Round first: 0.6 * 5 is 3.0000000000000004 in floating point and must keep 3 nodes, not 4.
    return min(count, max(1, math.ceil(round(fraction * count, 9))))


def _check_fraction(fraction: float) -> None:
    if isinstance(fraction, bool) or not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")


def _prefix_rows(table: pa.Table, keep: int) -> pa.Table:
    """The rows with id < keep. Filtering on the id (not the row position) stays right even if a
    snapshot stores its rows out of id order; Arrow keeps every column's type (dense or sparse)."""
    return table.filter(pc.less(table.column(ID_COLUMN), keep))


def _relation_subset(table: pa.Table, relation: RelationInfo, kept: dict[str, int]) -> tuple[RelationInfo, pa.Table]:
    """The relation's edges whose both endpoints are kept, in their original order."""
    mask = pc.and_(pc.less(table.column(SRC_COLUMN), kept[relation.src_type]),
                   pc.less(table.column(DST_COLUMN), kept[relation.dst_type]))
    edges = table.filter(mask)
    return relation.model_copy(update={"num_edges": len(edges)}), edges


def _check_splits(target: pa.Table, target_type: str, fraction: float) -> None:
    """A subset must stay trainable and evaluable: every labelled split non-empty on the target type."""
    counts = Counter(target.column(SPLIT_COLUMN).to_pylist()) if SPLIT_COLUMN in target.column_names else Counter()
    empty = [split for split in LABELLED_SPLITS if counts[split] == 0]
    if empty:
        raise ValueError(
            f"fraction {fraction}: the {target_type!r} subset ({len(target)} nodes) has an empty "
            f"{', '.join(repr(s) for s in empty)} split; use a larger fraction"
        )


def _refuse_existing(folder: Path) -> None:
    if folder.is_file() or (folder.is_dir() and any(folder.iterdir())):
        raise FileExistsError(f"{folder}: already exists and is not empty; refusing to overwrite it")
