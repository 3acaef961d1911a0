"""Great Expectations validation of graph snapshots: a tiny valid snapshot, one corruption per check, DBLP."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from _pytest.mark import ParameterSet

from hg2m.data.snapshot import GraphSnapshot, RelationInfo, SnapshotManifest, edge_table, node_table, with_hash
from hg2m.data.validation import SnapshotValidationError, validate_snapshot

AUTHOR, PAPER, VENUE = "nodes/author.parquet", "nodes/paper.parquet", "nodes/venue.parquet"
PAPER_AUTHOR, MANIFEST = "edges/paper_author.parquet", "manifest.json"
AUTHOR_FEATURES = [[1, 0, 0, 0, 2], [0, 0, 0, 0, 0], [0, 3, 0, 0, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 4]]
LABELS = [0, 1, 1, 0, -1, 1]
SPLIT = ["train", "train", "val", "test", "none", "test"]
DENSE = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
SPARSE_IDX = [np.flatnonzero(row).tolist() for row in AUTHOR_FEATURES]
SPARSE_VAL = [[v for v in row if v] for row in AUTHOR_FEATURES]
EDGES_EXTRA = edge_table(np.array([0]), np.array([0]))
BETWEEN, IN_SET = "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"
NOT_NULL, COLUMN_SET = "expect_column_values_to_not_be_null", "expect_column_distinct_values_to_equal_set"
ROW_COUNT = "expect_table_row_count_to_equal"


def tiny_snapshot() -> GraphSnapshot:
    """author (target: 6 nodes, 2 classes, sparse dim 5), paper (4 nodes, dense dim 3), venue (2, featureless)."""
    author, author_info = node_table(6, sp.csr_matrix(np.array(AUTHOR_FEATURES, np.float32)), np.array(LABELS), np.array(SPLIT))
    paper, paper_info = node_table(4, np.array(DENSE, np.float32))
    venue, venue_info = node_table(2)
    edges = {
        "paper_author": edge_table(np.array([0, 1, 2, 3, 3]), np.array([0, 1, 2, 3, 5])),
        "paper_venue": edge_table(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])),
    }
    relations = [RelationInfo(name=n, src_type="paper", dst_type=n.split("_")[1], num_edges=len(t)) for n, t in edges.items()]
    manifest = SnapshotManifest(
        name="tiny",
        target_type="author",
        num_classes=2,
        node_types={"author": author_info, "paper": paper_info, "venue": venue_info},
        relations=relations,
    )
    return with_hash(GraphSnapshot(manifest, {"author": author, "paper": paper, "venue": venue}, edges))


def replace_table(snapshot: GraphSnapshot, path: str, change: Callable[[pa.Table], pa.Table]) -> GraphSnapshot:
    """A copy of the snapshot with the table at `path` (e.g. nodes/author.parquet) changed."""
    kind, name = path.removesuffix(".parquet").split("/")
    tables = {**getattr(snapshot, kind), name: change(getattr(snapshot, kind)[name])}
    if kind == "nodes":
        return GraphSnapshot(snapshot.manifest, tables, snapshot.edges)
    return GraphSnapshot(snapshot.manifest, snapshot.nodes, tables)


Corruption = Callable[[GraphSnapshot], GraphSnapshot]


def change_table(path: str, change: Callable[[pa.Table], pa.Table]) -> Corruption:
    return lambda snapshot: replace_table(snapshot, path, change)


def set_column(path: str, column: str, values: list | pa.Array) -> Corruption:
    """Replace one column of one table; plain lists keep the column's Arrow type."""

    def change(table: pa.Table) -> pa.Table:
        array = values if isinstance(values, pa.Array) else pa.array(values, type=table.schema.field(column).type)
        return table.set_column(table.column_names.index(column), column, array)

    return change_table(path, change)


def with_manifest(**update: object) -> Corruption:
    return lambda s: GraphSnapshot(s.manifest.model_copy(update=update), s.nodes, s.edges)


def manifest_count(node_type: str, count: int) -> Corruption:
    """The manifest declares another node count than the table has."""

    def change(snapshot: GraphSnapshot) -> GraphSnapshot:
        info = snapshot.manifest.node_types[node_type].model_copy(update={"count": count})
        return with_manifest(node_types={**snapshot.manifest.node_types, node_type: info})(snapshot)

    return change


def with_tables(edges: dict[str, pa.Table] | None = None, drop: str | None = None) -> Corruption:
    """Edge tables added to, or dropped from, the snapshot without touching the manifest."""

    def change(snapshot: GraphSnapshot) -> GraphSnapshot:
        tables = {**snapshot.edges, **(edges or {})}
        tables.pop(drop, None)
        return GraphSnapshot(snapshot.manifest, snapshot.nodes, tables)

    return change


def case(name: str, corrupt: Corruption, path: str, expectation: str, detail: str) -> ParameterSet:
    """One corruption, the file it is reported under, and what the failure line must name."""
    return pytest.param(corrupt, path, expectation, detail, id=name)


SPLITS_DEV = ["train", "dev", "val", "test", "none", "test"]
SPLITS_NO_TEST = ["train", "train", "val", "val", "none", "val"]
UNDECLARED_RELATIONS = [
    RelationInfo(name="paper_author", src_type="paper", dst_type="writer", num_edges=5),
    RelationInfo(name="paper_venue", src_type="paper", dst_type="venue", num_edges=4),
]

CORRUPTIONS = [
    case("id out of range", set_column(AUTHOR, "id", [0, 1, 2, 3, 4, 7]), AUTHOR, BETWEEN, "column=id"),
    case("duplicate id", set_column(AUTHOR, "id", [0, 1, 2, 3, 4, 4]), AUTHOR, "expect_column_values_to_be_unique", "column=id"),
    case("null id", set_column(PAPER, "id", [0, 1, None, 3]), PAPER, NOT_NULL, "column=id"),
    case("null label", set_column(AUTHOR, "label", [0, 1, None, 0, -1, 1]), AUTHOR, NOT_NULL, "column=label"),
    case("float ids", set_column(PAPER, "id", pa.array([0.0, 1.0, 2.0, 3.0])), PAPER, "expect_column_pair_values_to_be_in_set", "['id', 'double']"),
    case("label out of range", set_column(AUTHOR, "label", [0, 1, 2, 0, -1, 1]), AUTHOR, BETWEEN, "column=label,"),
    case("labelled node without label", set_column(AUTHOR, "label", [0, -1, 1, 0, -1, 1]), AUTHOR, BETWEEN, "column=label.labelled"),
    case("unknown split", set_column(AUTHOR, "split", SPLITS_DEV), AUTHOR, IN_SET, "column=split"),
    case("null split", set_column(AUTHOR, "split", [None, *SPLIT[1:]]), AUTHOR, NOT_NULL, "column=split"),
    case("empty test split", set_column(AUTHOR, "split", SPLITS_NO_TEST), AUTHOR, "expect_column_distinct_values_to_contain_set", "missing ['test']"),
    case("edge dst out of range", set_column(PAPER_AUTHOR, "dst", [0, 1, 2, 3, 6]), PAPER_AUTHOR, BETWEEN, "column=dst"),
    case("null edge src", set_column(PAPER_AUTHOR, "src", [0, None, 2, 3, 3]), PAPER_AUTHOR, NOT_NULL, "column=src"),
    case("wrong dense length", set_column(PAPER, "feat", [*DENSE[:1], [3, 4], *DENSE[2:]]), PAPER, IN_SET, "column=feat.length"),
    case("null dense row", set_column(PAPER, "feat", [*DENSE[:1], None, *DENSE[2:]]), PAPER, IN_SET, "column=feat.length"),
    case("NaN in dense features", set_column(PAPER, "feat", [*DENSE[:1], [3, np.nan, 5], *DENSE[2:]]), PAPER, IN_SET, "column=feat.nonfinite"),
    case("inf in sparse values", set_column(AUTHOR, "feat_val", [*SPARSE_VAL[:2], [np.inf], *SPARSE_VAL[3:]]), AUTHOR, IN_SET, "column=feat_val.nonfinite"),
    case("sparse index too large", set_column(AUTHOR, "feat_idx", [[0, 5], *SPARSE_IDX[1:]]), AUTHOR, BETWEEN, "column=feat_idx.max"),
    case("negative sparse index", set_column(AUTHOR, "feat_idx", [[-1, 4], *SPARSE_IDX[1:]]), AUTHOR, BETWEEN, "column=feat_idx.min"),
    case("sparse lengths differ", set_column(AUTHOR, "feat_val", [[1, 2, 3], *SPARSE_VAL[1:]]), AUTHOR, "expect_column_pair_values_to_be_equal", "feat_idx.length"),
    case("extra column", change_table(VENUE, lambda t: t.append_column("extra", pa.array([1, 2]))), VENUE, COLUMN_SET, "e.g. ['extra']"),
    case("missing column", change_table(AUTHOR, lambda t: t.drop_columns(["split"])), AUTHOR, COLUMN_SET, "missing ['split']"),
    case("node count mismatch", manifest_count("venue", 3), VENUE, ROW_COUNT, "observed 2"),
    case("edge count mismatch", change_table(PAPER_AUTHOR, lambda t: t.slice(0, 4)), PAPER_AUTHOR, ROW_COUNT, "observed 4"),
    case("undeclared relation type", with_manifest(relations=UNDECLARED_RELATIONS), MANIFEST, "node_type_is_declared", "relations[paper_author].dst_type"),
    case("undeclared target type", with_manifest(target_type="writer"), MANIFEST, "node_type_is_declared", "target_type"),
    case("table not in manifest", with_tables(edges={"extra": EDGES_EXTRA}), MANIFEST, "tables_match_manifest", "unexpected ['edges/extra.parquet']"),
    case("table missing", with_tables(drop="paper_venue"), MANIFEST, "tables_match_manifest", "missing ['edges/paper_venue.parquet']"),
]


def test_valid_snapshot_passes_with_a_json_report() -> None:
    report = validate_snapshot(tiny_snapshot())
    assert report["success"]
    assert set(report["files"]) == {MANIFEST, AUTHOR, PAPER, VENUE, PAPER_AUTHOR, "edges/paper_venue.parquet"}
    assert all(f["success"] and f["evaluated"] > 0 and not f["failures"] for f in report["files"].values())
    json.dumps(report)


@pytest.mark.parametrize(("corrupt", "path", "expectation", "detail"), CORRUPTIONS)
def test_corruption_is_reported(corrupt: Corruption, path: str, expectation: str, detail: str) -> None:
    with pytest.raises(SnapshotValidationError) as caught:
        validate_snapshot(corrupt(tiny_snapshot()))
    lines = str(caught.value).splitlines()
    assert any(path in line and expectation in line and detail in line for line in lines), str(caught.value)
    assert not caught.value.report["success"] and not caught.value.report["files"][path]["success"]
    json.dumps(caught.value.report)


def test_multi_label_snapshots_take_bitmasks_up_to_every_class() -> None:
    """2 classes, multi-label: labels 0..3 are sets ({}, {0}, {1}, {0, 1}); 4 names a class that does not exist."""
    multi = with_manifest(multi_label=True)
    assert validate_snapshot(set_column(AUTHOR, "label", [3, 1, 2, 0, -1, 3])(multi(tiny_snapshot())))["success"]
    with pytest.raises(SnapshotValidationError, match=f"{AUTHOR}.*{BETWEEN}.*column=label,"):
        validate_snapshot(set_column(AUTHOR, "label", [3, 1, 4, 0, -1, 3])(multi(tiny_snapshot())))
    with pytest.raises(ValueError, match="at most 62 classes fit a bitmask label"):
        SnapshotManifest.model_validate({**tiny_snapshot().manifest.model_dump(), "num_classes": 63,
                                         "multi_label": True})


def test_failures_from_all_files_are_collected() -> None:
    snapshot = set_column(PAPER_AUTHOR, "dst", [0, 1, 2, 3, 9])(set_column(AUTHOR, "label", [0, 1, 5, 0, -1, 1])(tiny_snapshot()))
    with pytest.raises(SnapshotValidationError) as caught:
        validate_snapshot(snapshot)
    failed = {path for path, f in caught.value.report["files"].items() if not f["success"]}
    assert failed == {AUTHOR, PAPER_AUTHOR}
    assert str(caught.value).count("\n") == 2  # header + one line per failed expectation


def test_dblp_snapshot_passes() -> None:
    from hg2m.config import CONFIG_DIR, DatasetConfig, read_yaml
    from hg2m.data.raw import load_raw_dataset

    config = DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets/dblp.yaml"))
    report = validate_snapshot(load_raw_dataset(config))
    assert report["success"]
    assert all(entry["success"] and entry["evaluated"] > 0 for entry in report["files"].values())
