"""The canonical graph snapshot: one Parquet file per node type and per relation, plus a manifest.

Layout of a snapshot folder (documented in the README, and the format users bring their graphs in):

    manifest.json                  SnapshotManifest below
    nodes/<node_type>.parquet      the id column, then the features, then label and split on the target type
    edges/<relation>.parquet       the EDGE_COLUMNS: ids of the relation's source and destination nodes

The columns and their Arrow types are SNAPSHOT_COLUMNS below; which of them a table has is
node_columns() / EDGE_COLUMNS. Ids run 0..count-1 per node type. Features are dense or sparse, as the
manifest says per node type (FEATURE_COLUMNS), and a type may have none. On the target type, labels
are 0..num_classes-1 or UNKNOWN_LABEL (with `multi_label`, a set of classes as the bitmask sum of 2**c, 0 the
empty set: hg2m.labels), and every node is in one of SPLITS: LABELLED_SPLITS, or UNSPLIT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hg2m.labels import MAX_MULTI_LABEL_CLASSES

T = TypeVar("T")
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
FeatureFormat = Literal["dense", "sparse", "none"]

# Split names of the target type's split column, and its label for a node without a known class.
LABELLED_SPLITS = ("train", "val", "test")
UNSPLIT = "none"  # nodes in no split (their label may still be known)
SPLITS = (*LABELLED_SPLITS, UNSPLIT)
UNKNOWN_LABEL = -1

# Column names, and every column's Arrow type (the one place the table schema is stated).
ID_COLUMN = "id"
FEAT_COLUMN = "feat"  # dense features: feature_dim values per node
FEAT_IDX_COLUMN, FEAT_VAL_COLUMN = "feat_idx", "feat_val"  # sparse features: indices and their values
LABEL_COLUMN, SPLIT_COLUMN = "label", "split"  # target type only
SRC_COLUMN, DST_COLUMN = "src", "dst"
SNAPSHOT_COLUMNS: dict[str, pa.DataType] = {
    ID_COLUMN: pa.int64(),
    FEAT_COLUMN: pa.list_(pa.float32()),
    FEAT_IDX_COLUMN: pa.list_(pa.int32()),
    FEAT_VAL_COLUMN: pa.list_(pa.float32()),
    LABEL_COLUMN: pa.int64(),
    SPLIT_COLUMN: pa.string(),
    SRC_COLUMN: pa.int64(),
    DST_COLUMN: pa.int64(),
}
FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "none": (),
    "dense": (FEAT_COLUMN,),
    "sparse": (FEAT_IDX_COLUMN, FEAT_VAL_COLUMN),
}
TARGET_COLUMNS = (LABEL_COLUMN, SPLIT_COLUMN)
EDGE_COLUMNS = (SRC_COLUMN, DST_COLUMN)


class SnapshotError(ValueError):
    """A snapshot folder cannot be read: missing files, a bad manifest or a wrong hash."""


def node_columns(feature_format: FeatureFormat, is_target: bool) -> tuple[str, ...]:
    """The columns of a node table, in order: id, the features, and on the target type label and split."""
    return (ID_COLUMN, *FEATURE_COLUMNS[feature_format], *(TARGET_COLUMNS if is_target else ()))


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
    multi_label: bool = Field(False, description="Labels are sets of classes, each stored as a bitmask.")
    class_names: list[str] = []
    node_types: dict[str, NodeTypeInfo]
    relations: list[RelationInfo]
    content_hash: str = ""

    @model_validator(mode="after")
    def _bitmask_fits(self) -> SnapshotManifest:
        if self.multi_label and self.num_classes > MAX_MULTI_LABEL_CLASSES:
            raise ValueError(f"multi_label: at most {MAX_MULTI_LABEL_CLASSES} classes fit a bitmask label, "
                             f"num_classes is {self.num_classes}")
        return self

    def relation(self, name: str) -> RelationInfo:
        return next(r for r in self.relations if r.name == name)


@dataclass
class GraphSnapshot:
    """A heterogeneous graph as Arrow tables, ready to be written as (or read from) Parquet. `casts`: the columns
    a folder held in a wider type than the snapshot's (e.g. pandas' float64), cast on reading (`conform_table`)."""

    manifest: SnapshotManifest
    nodes: dict[str, pa.Table]
    edges: dict[str, pa.Table] = field(default_factory=dict)
    casts: list[str] = field(default_factory=list)

    def table_paths(self) -> dict[str, pa.Table]:
        """Every table under its path relative to the snapshot folder, in a fixed order."""
        paths = {f"nodes/{t}.parquet": tbl for t, tbl in self.nodes.items()}
        paths.update({f"edges/{r}.parquet": tbl for r, tbl in self.edges.items()})
        return dict(sorted(paths.items()))

    def target_table(self) -> pa.Table:
        return self.nodes[self.manifest.target_type]

    def save(self, folder: Path) -> None:
        write_snapshot(self, folder)

    @classmethod
    def load(cls, folder: Path) -> "GraphSnapshot":
        return read_snapshot(folder)


def dense_feature_column(features: np.ndarray) -> pa.Array:
    """(N, D) array -> list<float32> column."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), d).cast(SNAPSHOT_COLUMNS[FEAT_COLUMN])


def sparse_feature_columns(features: sp.spmatrix) -> tuple[pa.Array, pa.Array]:
    """(N, D) sparse matrix -> (feat_idx list<int32>, feat_val list<float32>) columns."""
    csr = sp.csr_matrix(features)
    csr.sort_indices()
    offsets = pa.array(csr.indptr.astype(np.int32))
    idx = pa.ListArray.from_arrays(offsets, pa.array(csr.indices.astype(np.int32)))
    val = pa.ListArray.from_arrays(offsets, pa.array(csr.data.astype(np.float32)))
    return idx.cast(SNAPSHOT_COLUMNS[FEAT_IDX_COLUMN]), val.cast(SNAPSHOT_COLUMNS[FEAT_VAL_COLUMN])


def node_table(
    count: int,
    features: np.ndarray | sp.spmatrix | None = None,
    labels: np.ndarray | None = None,
    split: np.ndarray | None = None,
) -> tuple[pa.Table, NodeTypeInfo]:
    """Build one node type's table and its manifest entry."""
    columns: dict[str, pa.Array] = {ID_COLUMN: id_array(np.arange(count))}
    info = NodeTypeInfo(count=count)
    if features is not None and sp.issparse(features):
        columns[FEAT_IDX_COLUMN], columns[FEAT_VAL_COLUMN] = sparse_feature_columns(features)
        info = NodeTypeInfo(count=count, feature_format="sparse", feature_dim=features.shape[1])
    elif features is not None:
        columns[FEAT_COLUMN] = dense_feature_column(features)
        info = NodeTypeInfo(count=count, feature_format="dense", feature_dim=features.shape[1])
    if labels is not None:
        columns[LABEL_COLUMN] = label_array(labels)
    if split is not None:
        columns[SPLIT_COLUMN] = split_array(split)
    return pa.table(columns), info


def id_array(ids: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(ids, dtype=np.int64), type=SNAPSHOT_COLUMNS[ID_COLUMN])


def label_array(labels: np.ndarray) -> pa.Array:
    """Class per node, UNKNOWN_LABEL where unknown."""
    return pa.array(np.asarray(labels, dtype=np.int64), type=SNAPSHOT_COLUMNS[LABEL_COLUMN])


def split_array(split: np.ndarray) -> pa.Array:
    """One of SPLITS per node."""
    return pa.array(np.asarray(split, dtype=object), type=SNAPSHOT_COLUMNS[SPLIT_COLUMN])


def edge_table(src: np.ndarray, dst: np.ndarray) -> pa.Table:
    return pa.table({
        SRC_COLUMN: pa.array(np.asarray(src, dtype=np.int64), type=SNAPSHOT_COLUMNS[SRC_COLUMN]),
        DST_COLUMN: pa.array(np.asarray(dst, dtype=np.int64), type=SNAPSHOT_COLUMNS[DST_COLUMN]),
    })


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
        return lambda name: conform_column(name, pq.read_table(path, columns=[name]).column(0))

    tables = ((rel, read_parquet(folder / rel, pq.read_schema).names, reader(folder / rel))
              for rel in manifest_table_paths(manifest))
    return _digest_tables(manifest, tables)


def manifest_table_paths(manifest: SnapshotManifest) -> list[str]:
    """Every table file the manifest implies, relative to the snapshot folder, in hashing order."""
    paths = [f"nodes/{t}.parquet" for t in manifest.node_types] + [f"edges/{r.name}.parquet" for r in manifest.relations]
    return sorted(paths)


def _digest_tables(
    manifest: SnapshotManifest, tables: Iterable[tuple[str, list[str], Callable[[str], pa.ChunkedArray]]]
) -> str:
    digest = hashlib.sha256()
    # single-label manifests hash as they did before `multi_label` existed: snapshots written then still verify
    structure = manifest.model_dump(exclude={"content_hash"} | (set() if manifest.multi_label else {"multi_label"}))
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
    return dataclasses.replace(snapshot, manifest=manifest)


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


def read_parquet(path: Path, read: Callable[[Path], T] = pq.read_table) -> T:
    """`read(path)` (a table by default, or e.g. `pq.read_schema`), with a SnapshotError naming the file when
    it is missing or not Parquet."""
    if not path.is_file():
        raise SnapshotError(f"{path}: missing (the manifest lists it)")
    try:
        return read(path)
    except (pa.ArrowException, OSError) as err:
        raise SnapshotError(f"{path}: not a readable Parquet file: {err}") from err


def checked_hash(folder: Path, manifest: SnapshotManifest, computed: str) -> str:
    """`computed`, the hash of the folder's tables, if the manifest carries no hash or the same one."""
    if manifest.content_hash and computed != manifest.content_hash:
        raise SnapshotError(
            f"{folder / MANIFEST_FILE}: content_hash {manifest.content_hash[:12]}... does not match the "
            "tables in the folder (a file was changed after the snapshot was written)"
        )
    return computed


def conform_column(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A snapshot column in its snapshot type (SNAPSHOT_COLUMNS) when it holds the same values in another
    numeric width or string/list layout (what pandas writes: float64, int32, large_string, large_list,
    dictionary); anything else, or a value that does not fit, is returned as it is for validation to report."""
    expected = SNAPSHOT_COLUMNS.get(name)
    if expected is None or column.type == expected or not same_kind(column.type, expected):
        return column
    try:
        return column.cast(expected, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column


def same_kind(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Integers for integers, floats or integers for floats, strings for strings, lists of those for lists."""
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_list(expected):
        lists = pa.types.is_list(actual) or pa.types.is_large_list(actual) or pa.types.is_fixed_size_list(actual)
        return lists and same_kind(actual.value_type, expected.value_type)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    return (pa.types.is_string(actual) or pa.types.is_large_string(actual)) and pa.types.is_string(expected)


def conform_table(table: pa.Table, path: str, casts: list[str]) -> pa.Table:
    """`table` with every column conformed (conform_column); each cast is appended to `casts` as
    'path: column from -> to'."""
    columns = []
    for name in table.column_names:
        column = conform_column(name, table.column(name))
        if column.type != table.column(name).type:
            casts.append(f"{path}: {name} {table.column(name).type} -> {column.type}")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def read_snapshot(folder: Path, verify_hash: bool = True) -> GraphSnapshot:
    """Read a snapshot folder, its columns conformed to the snapshot's types (the casts are recorded); if the
    manifest carries a content hash, check the tables against it."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    casts: list[str] = []

    def read(rel_path: str) -> pa.Table:
        return conform_table(read_parquet(folder / rel_path), rel_path, casts)

    nodes = {t: read(f"nodes/{t}.parquet") for t in manifest.node_types}
    edges = {r.name: read(f"edges/{r.name}.parquet") for r in manifest.relations}
    snapshot = GraphSnapshot(manifest=manifest, nodes=nodes, edges=edges, casts=casts)
    if not manifest.content_hash:
        return with_hash(snapshot)
    if verify_hash:
        checked_hash(folder, manifest, content_hash(snapshot))
    return snapshot


def verified_content_hash(folder: Path) -> str:
    """The content hash of the snapshot in `folder`, computed from its tables one column at a time and checked
    against its manifest's: the snapshot's identity, known without loading it whole."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    return checked_hash(folder, manifest, folder_content_hash(manifest, folder))
