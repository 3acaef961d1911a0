import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hg2m.data.snapshot import (
    EDGE_COLUMNS,
    LABELLED_SPLITS,
    MANIFEST_FILE,
    SNAPSHOT_COLUMNS,
    SPLITS,
    UNKNOWN_LABEL,
    UNSPLIT,
    SnapshotError,
    content_hash,
    folder_content_hash,
    node_columns,
    read_snapshot,
    write_snapshot,
)
from hg2m.data.validation import SnapshotValidationError, validate_snapshot


def test_format_constants_keep_their_documented_values():
    """The on-disk format (README): changing one of these would break the snapshots users have written."""
    assert (LABELLED_SPLITS, UNSPLIT, SPLITS) == (("train", "val", "test"), "none", ("train", "val", "test", "none"))
    assert UNKNOWN_LABEL == -1
    assert {name: str(t) for name, t in SNAPSHOT_COLUMNS.items()} == {
        "id": "int64", "feat": "list<item: float>", "feat_idx": "list<item: int32>", "feat_val": "list<item: float>",
        "label": "int64", "split": "string", "src": "int64", "dst": "int64",
    }


def test_built_tables_have_the_declared_columns_and_types(tiny_snapshot):
    manifest = tiny_snapshot.manifest
    tables = [(t, node_columns(manifest.node_types[t].feature_format, t == manifest.target_type))
              for t in tiny_snapshot.nodes]
    for node_type, columns in tables:
        assert tuple(tiny_snapshot.nodes[node_type].column_names) == columns
    assert all(tuple(table.column_names) == EDGE_COLUMNS for table in tiny_snapshot.edges.values())
    for table in [*tiny_snapshot.nodes.values(), *tiny_snapshot.edges.values()]:
        assert all(table.schema.field(name).type == SNAPSHOT_COLUMNS[name] for name in table.column_names)


def test_round_trip_keeps_tables_and_hash(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")) == [
        "edges/paper_author.parquet", "edges/paper_venue.parquet",
        "nodes/author.parquet", "nodes/paper.parquet", "nodes/venue.parquet",
    ]
    loaded = read_snapshot(tmp_path)
    assert loaded.manifest == tiny_snapshot.manifest
    for path, table in tiny_snapshot.table_paths().items():
        assert loaded.table_paths()[path].to_pylist() == table.to_pylist()


def test_manifest_records_counts_and_feature_formats(tiny_snapshot):
    manifest = tiny_snapshot.manifest
    assert {t: (i.count, i.feature_format, i.feature_dim) for t, i in manifest.node_types.items()} == {
        "author": (6, "dense", 3), "paper": (4, "sparse", 5), "venue": (2, "none", 0),
    }
    assert [(r.name, r.num_edges) for r in manifest.relations] == [("paper_author", 7), ("paper_venue", 4)]
    assert len(manifest.content_hash) == 64


def test_hash_follows_content_not_file_layout(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    rechunked = read_snapshot(tmp_path)
    rechunked.nodes["author"] = pa.concat_tables([rechunked.nodes["author"].slice(0, 2), rechunked.nodes["author"].slice(2)])
    assert content_hash(rechunked) == tiny_snapshot.manifest.content_hash
    changed = read_snapshot(tmp_path)
    table = changed.edges["paper_venue"]
    changed.edges["paper_venue"] = table.set_column(1, "dst", pa.array(np.array([1, 1, 0, 1], dtype=np.int64)))
    assert content_hash(changed) != tiny_snapshot.manifest.content_hash


def test_tampered_file_is_detected(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    other = tiny_snapshot.edges["paper_venue"].slice(0, 3)
    import pyarrow.parquet as pq

    pq.write_table(other, tmp_path / "edges" / "paper_venue.parquet")
    with pytest.raises(SnapshotError, match="does not match"):
        read_snapshot(tmp_path)


def test_missing_manifest_and_missing_table_are_named(tiny_snapshot, tmp_path):
    with pytest.raises(SnapshotError, match="manifest.json: missing"):
        read_snapshot(tmp_path)
    write_snapshot(tiny_snapshot, tmp_path)
    (tmp_path / "nodes" / "venue.parquet").unlink()
    with pytest.raises(SnapshotError, match="venue.parquet: missing"):
        read_snapshot(tmp_path)


def test_manifest_without_hash_gets_one_computed(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    manifest["content_hash"] = ""
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert read_snapshot(tmp_path).manifest.content_hash == tiny_snapshot.manifest.content_hash


def test_bad_manifest_is_a_clear_error(tmp_path):
    (tmp_path / MANIFEST_FILE).write_text('{"name": "x"}')
    with pytest.raises(SnapshotError, match="invalid manifest"):
        read_snapshot(tmp_path)


def test_columns_written_by_pandas_defaults_are_cast_and_the_casts_recorded(tiny_snapshot, tmp_path):
    """float64 features, int32 ids, large strings, large lists, categorical splits: the same values, other types."""
    write_snapshot(tiny_snapshot, tmp_path)
    author = tiny_snapshot.nodes["author"].to_pandas()  # dense feat; label, split
    author["id"] = author["id"].astype("int32")
    author["feat"] = author["feat"].map(lambda v: [float(x) for x in v])  # -> list<double>
    author["split"] = author["split"].astype("category")
    author.to_parquet(tmp_path / "nodes" / "author.parquet")
    edges = tiny_snapshot.edges["paper_venue"]
    wide = pa.table({"src": edges["src"].cast(pa.int32()), "dst": edges["dst"]})
    pq.write_table(wide, tmp_path / "edges" / "paper_venue.parquet")
    paper = tiny_snapshot.nodes["paper"]  # sparse feat_idx, feat_val
    paper = pa.table({"id": paper["id"].cast(pa.uint16()), "feat_idx": paper["feat_idx"].cast(pa.list_(pa.int64())),
                      "feat_val": paper["feat_val"].cast(pa.large_list(pa.float64()))})
    pq.write_table(paper, tmp_path / "nodes" / "paper.parquet")

    snapshot = read_snapshot(tmp_path)  # the manifest's hash still holds: it is over the values
    for table in (*snapshot.nodes.values(), *snapshot.edges.values()):
        assert all(field.type == SNAPSHOT_COLUMNS[field.name] for field in table.schema)
    assert "nodes/author.parquet: id int32 -> int64" in snapshot.casts
    assert "nodes/author.parquet: feat list<element: double> -> list<item: float>" in snapshot.casts
    assert "nodes/paper.parquet: feat_val large_list<element: double> -> list<item: float>" in snapshot.casts
    assert any(c.startswith("nodes/author.parquet: split dictionary<") for c in snapshot.casts)
    assert "edges/paper_venue.parquet: src int32 -> int64" in snapshot.casts
    assert folder_content_hash(snapshot.manifest, tmp_path) == tiny_snapshot.manifest.content_hash
    validate_snapshot(snapshot)


def test_columns_of_another_kind_are_not_cast_and_fail_validation(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    author = tiny_snapshot.nodes["author"]
    labels = pa.array(np.asarray(author["label"]).astype(np.float64) + 0.5)  # not whole numbers: not a class
    pq.write_table(author.set_column(author.column_names.index("label"), "label", labels),
                   tmp_path / "nodes" / "author.parquet")
    snapshot = read_snapshot(tmp_path, verify_hash=False)
    assert snapshot.casts == [] and snapshot.nodes["author"]["label"].type == pa.float64()
    with pytest.raises(SnapshotValidationError, match="label"):
        validate_snapshot(snapshot)


def test_ids_that_do_not_fit_are_left_for_validation(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path)
    edges = tiny_snapshot.edges["paper_venue"]
    huge = pa.array(np.asarray(edges["src"]).astype(np.uint64) + np.uint64(2**63))
    pq.write_table(pa.table({"src": huge, "dst": edges["dst"]}), tmp_path / "edges" / "paper_venue.parquet")
    snapshot = read_snapshot(tmp_path, verify_hash=False)
    assert snapshot.edges["paper_venue"]["src"].type == pa.uint64() and snapshot.casts == []
    with pytest.raises(SnapshotValidationError):
        validate_snapshot(snapshot)
