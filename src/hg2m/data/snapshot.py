"""The canonical graph snapshot: one Parquet file per node type and per relation, plus a manifest.

Layout of a snapshot folder (documented in the README, and the format users bring their graphs in):

    manifest.json                  SnapshotManifest below
    nodes/<node_type>.parquet      id (int64, 0..count-1), then features, then label/split on the target
    edges/<relation>.parquet       src, dst (int64 ids of the relation's source and destination types)

Features are either dense (`feat`: list<float32> of length feature_dim) or sparse (`feat_idx`:
list<int32>, `feat_val`: list<float32>), as the manifest says per node type; a type may have none.
The target type has `label` (int64, -1 = unknown) and `split` (string: train, val, test or none).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SPLITS = ("train", "val", "test", "none")
FeatureFormat = Literal["dense", "sparse", "none"]


class SnapshotError(ValueError):
    """A snapshot folder cannot be read: missing files, a bad manifest or a wrong hash."""


class NodeTypeInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=0)
    feature_format: FeatureFormat = "none"
    feature_dim: int = Field(0, ge=0)


class RelationInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    src_type: str
    dst_type: str
    num_edges: int = Field(ge=0)


class SnapshotManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    name: str
    target_type: str
    num_classes: int = Field(gt=1)
    class_names: list[str] = []
    node_types: dict[str, NodeTypeInfo]
    relations: list[RelationInfo]
    content_hash: str = ""

    def relation(self, name: str) -> RelationInfo:
        return next(r for r in self.relations if r.name == name)


@dataclass
class GraphSnapshot:
    """A heterogeneous graph as Arrow tables, ready to be written as (or read from) Parquet."""

    manifest: SnapshotManifest
    nodes: dict[str, pa.Table]
    edges: dict[str, pa.Table] = field(default_factory=dict)

    def table_paths(self) -> dict[str, pa.Table]:
        """Every table under its path relative to the snapshot folder, in a fixed order."""
        paths = {f"nodes/{t}.parquet": tbl for t, tbl in self.nodes.items()}
        paths.update({f"edges/{r}.parquet": tbl for r, tbl in self.edges.items()})
        return dict(sorted(paths.items()))

    def target_table(self) -> pa.Table:
        return self.nodes[self.manifest.target_type]


def dense_feature_column(features: np.ndarray) -> pa.Array:
    """(N, D) array -> list<float32> column."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), d).cast(pa.list_(pa.float32()))


def sparse_feature_columns(features: sp.spmatrix) -> tuple[pa.Array, pa.Array]:
    """(N, D) sparse matrix -> (feat_idx list<int32>, feat_val list<float32>) columns."""
    csr = sp.csr_matrix(features)
    csr.sort_indices()
    offsets = pa.array(csr.indptr.astype(np.int32))
    idx = pa.ListArray.from_arrays(offsets, pa.array(csr.indices.astype(np.int32)))
    val = pa.ListArray.from_arrays(offsets, pa.array(csr.data.astype(np.float32)))
    return idx, val


def node_table(
    count: int,
    features: np.ndarray | sp.spmatrix | None = None,
    labels: np.ndarray | None = None,
    split: np.ndarray | None = None,
) -> tuple[pa.Table, NodeTypeInfo]:
    """Build one node type's table and its manifest entry."""
    columns: dict[str, pa.Array] = {"id": pa.array(np.arange(count, dtype=np.int64))}
    info = NodeTypeInfo(count=count)
    if features is not None and sp.issparse(features):
        columns["feat_idx"], columns["feat_val"] = sparse_feature_columns(features)
        info = NodeTypeInfo(count=count, feature_format="sparse", feature_dim=features.shape[1])
    elif features is not None:
        columns["feat"] = dense_feature_column(features)
        info = NodeTypeInfo(count=count, feature_format="dense", feature_dim=features.shape[1])
    if labels is not None:
        columns["label"] = pa.array(np.asarray(labels, dtype=np.int64))
    if split is not None:
        columns["split"] = pa.array(np.asarray(split, dtype=object), type=pa.string())
    return pa.table(columns), info


def edge_table(src: np.ndarray, dst: np.ndarray) -> pa.Table:
    return pa.table({"src": np.asarray(src, dtype=np.int64), "dst": np.asarray(dst, dtype=np.int64)})


def write_parquet(table: pa.Table, path: Path) -> None:
    """One row group, zstd, no pandas metadata."""
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd", row_group_size=max(1, len(table)))


def column_digest(digest: "hashlib._Hash", column: pa.ChunkedArray) -> None:
    """Feed a column's logical values (not its physical layout) into the digest."""
    array = column.combine_chunks()
    is_list = pa.types.is_list(array.type) or pa.types.is_large_list(array.type)
    # Parquet renames a list's child field ("item" -> "element"): hash the value type only.
    type_name = f"list<{array.type.value_type}>" if is_list else str(array.type)
    digest.update(f"{type_name}:{len(array)}:{array.null_count}".encode())
    if is_list:
        offsets = array.offsets.to_numpy()
        digest.update((offsets - offsets[0]).astype(np.int64).tobytes())
        digest.update(array.flatten().to_numpy(zero_copy_only=False).tobytes())
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        digest.update("\x1f".join(array.to_pylist()).encode())
    else:
        digest.update(array.to_numpy(zero_copy_only=False).tobytes())


def content_hash(snapshot: GraphSnapshot) -> str:
    """sha256 over the manifest's structure and every table's column names, types and values.

    The hash depends on what the tables hold, not on how the Parquet files were written, so a
    snapshot re-written by another tool keeps its identity.
    """
    tables = ((path, table.column_names, table.column) for path, table in snapshot.table_paths().items())
    return _digest_tables(snapshot.manifest, tables)


def folder_content_hash(manifest: SnapshotManifest, folder: Path) -> str:
    """`content_hash` of the snapshot written under `folder`, read one column at a time (bounded memory)."""

    def reader(path: Path) -> Callable[[str], pa.ChunkedArray]:
        return lambda name: pq.read_table(path, columns=[name]).column(0)

    tables = ((rel, pq.read_schema(folder / rel).names, reader(folder / rel)) for rel in manifest_table_paths(manifest))
    return _digest_tables(manifest, tables)


def manifest_table_paths(manifest: SnapshotManifest) -> list[str]:
    """Every table file the manifest implies, relative to the snapshot folder, in hashing order."""
    paths = [f"nodes/{t}.parquet" for t in manifest.node_types] + [f"edges/{r.name}.parquet" for r in manifest.relations]
    return sorted(paths)


def _digest_tables(
    manifest: SnapshotManifest, tables: Iterable[tuple[str, list[str], Callable[[str], pa.ChunkedArray]]]
) -> str:
    digest = hashlib.sha256()
    structure = manifest.model_dump(exclude={"content_hash"})
    digest.update(json.dumps(structure, sort_keys=True).encode())
    for path, names, column in tables:
        digest.update(path.encode())
        for name in names:
            digest.update(name.encode())
            column_digest(digest, column(name))
    return digest.hexdigest()


def with_hash(snapshot: GraphSnapshot) -> GraphSnapshot:
    """The same snapshot with its manifest's content_hash filled in."""
    manifest = snapshot.manifest.model_copy(update={"content_hash": content_hash(snapshot)})
    return GraphSnapshot(manifest=manifest, nodes=snapshot.nodes, edges=snapshot.edges)


def write_snapshot(snapshot: GraphSnapshot, folder: Path) -> None:
    """Write tables and manifest; the manifest goes last, so a folder without one is incomplete."""
    folder = Path(folder)
    if not snapshot.manifest.content_hash:
        snapshot = with_hash(snapshot)
    for rel_path, table in snapshot.table_paths().items():
        path = folder / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, path)
    (folder / MANIFEST_FILE).write_text(snapshot.manifest.model_dump_json(indent=2))


def read_manifest(folder: Path) -> SnapshotManifest:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise SnapshotError(f"{path}: missing (a snapshot folder needs a manifest.json)")
    try:
        return SnapshotManifest.model_validate_json(path.read_text())
    except ValueError as err:
        raise SnapshotError(f"{path}: invalid manifest: {err}") from err


def read_table(path: Path) -> pa.Table:
    if not path.is_file():
        raise SnapshotError(f"{path}: missing (the manifest lists it)")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise SnapshotError(f"{path}: not a readable Parquet file: {err}") from err


def read_snapshot(folder: Path, verify_hash: bool = True) -> GraphSnapshot:
    """Read a snapshot folder; if the manifest carries a content hash, check the tables against it."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    nodes = {t: read_table(folder / "nodes" / f"{t}.parquet") for t in manifest.node_types}
    edges = {r.name: read_table(folder / "edges" / f"{r.name}.parquet") for r in manifest.relations}
    snapshot = GraphSnapshot(manifest=manifest, nodes=nodes, edges=edges)
    if not manifest.content_hash:
        return with_hash(snapshot)
    if verify_hash and content_hash(snapshot) != manifest.content_hash:
        raise SnapshotError(
            f"{folder / MANIFEST_FILE}: content_hash {manifest.content_hash[:12]}... does not match the "
            "tables in the folder (a file was changed after the snapshot was written)"
        )
    return snapshot
