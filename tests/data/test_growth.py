"""Growing snapshot sequences: subset sizes, prefix containment, hashes, writing, errors, and DBLP."""

from __future__ import annotations

import collections

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hg2m.config import CONFIG_DIR, load_run_config
from hg2m.data.growth import grow_subset, kept_count, snapshot_sequence, write_sequence
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import GraphSnapshot, read_snapshot
from hg2m.data.validation import validate_snapshot

# The tiny target type (6 authors) has splits train, train, val, val, test, test: 5 authors are the
# fewest that still have a test node, so 0.7 is about the smallest usable fraction.
TINY_FRACTIONS = [0.7, 0.8, 1.0]
TINY_COUNTS = [
    {"author": 5, "paper": 3, "venue": 2},
    {"author": 5, "paper": 4, "venue": 2},
    {"author": 6, "paper": 4, "venue": 2},
]
TINY_EDGES = [
    {"paper_author": 5, "paper_venue": 3},
    {"paper_author": 6, "paper_venue": 4},
    {"paper_author": 7, "paper_venue": 4},
]


def counts(snapshot: GraphSnapshot) -> dict[str, int]:
    return {t: info.count for t, info in snapshot.manifest.node_types.items()}


def edge_counts(snapshot: GraphSnapshot) -> dict[str, int]:
    return {r.name: r.num_edges for r in snapshot.manifest.relations}


def edge_pairs(table: pa.Table) -> set[tuple[int, int]]:
    return set(zip(table.column("src").to_pylist(), table.column("dst").to_pylist()))


def assert_consistent(snapshot: GraphSnapshot) -> None:
    """Ids are 0..n-1 per type, tables match the manifest, edges only among kept nodes."""
    manifest = snapshot.manifest
    for node_type, info in manifest.node_types.items():
        assert sorted(snapshot.nodes[node_type].column("id").to_pylist()) == list(range(info.count))
    for relation in manifest.relations:
        table = snapshot.edges[relation.name]
        assert len(table) == relation.num_edges
        if len(table):
            assert pc.max(table.column("src")).as_py() < manifest.node_types[relation.src_type].count
            assert pc.max(table.column("dst")).as_py() < manifest.node_types[relation.dst_type].count


def assert_extends(small: GraphSnapshot, large: GraphSnapshot) -> None:
    """`large` holds every row of `small` unchanged under the same id, and a superset of its edges."""
    for node_type, table in small.nodes.items():
        large_table = large.nodes[node_type]
        prefix = large_table.filter(pc.less(large_table.column("id"), len(table)))
        assert prefix.equals(table), node_type
    for name, table in small.edges.items():
        assert edge_pairs(table) <= edge_pairs(large.edges[name]), name


def test_kept_count_rounds_up_and_keeps_one() -> None:
    assert kept_count(5, 0.6) == 3  # 0.6 * 5 is 3.0000000000000004 in floating point
    assert kept_count(10, 0.25) == 3
    assert kept_count(10, 0.01) == 1
    assert kept_count(0, 0.5) == 0
    assert kept_count(7, 1.0) == 7


def test_sizes_per_fraction(tiny_snapshot: GraphSnapshot) -> None:
    sequence = snapshot_sequence(tiny_snapshot, TINY_FRACTIONS)
    assert [counts(s) for s in sequence] == TINY_COUNTS
    assert [edge_counts(s) for s in sequence] == TINY_EDGES
    for subset in sequence:
        assert_consistent(subset)
        assert len(subset.nodes["author"]) == subset.manifest.node_types["author"].count
    # Edges kept are exactly those with both endpoints kept, in their original order.
    pa_edges = sequence[0].edges["paper_author"]
    assert list(zip(pa_edges.column("src").to_pylist(), pa_edges.column("dst").to_pylist())) == [
        (0, 0), (0, 1), (1, 2), (2, 3), (2, 4)
    ]


def test_manifest_and_column_formats_kept(tiny_snapshot: GraphSnapshot) -> None:
    subset = grow_subset(tiny_snapshot, 0.7)
    original = tiny_snapshot.manifest
    for key in ("name", "target_type", "num_classes", "class_names", "format_version"):
        assert getattr(subset.manifest, key) == getattr(original, key)
    for node_type, info in subset.manifest.node_types.items():
        assert (info.feature_format, info.feature_dim) == (
            original.node_types[node_type].feature_format, original.node_types[node_type].feature_dim
        )
        assert subset.nodes[node_type].schema == tiny_snapshot.nodes[node_type].schema  # dense and sparse alike
    authors = subset.nodes["author"]
    assert authors.column("split").to_pylist() == ["train", "train", "val", "val", "test"]
    assert authors.column("label").to_pylist() == [0, 1, 0, 1, 0]


def test_later_snapshot_extends_earlier(tiny_snapshot: GraphSnapshot) -> None:
    sequence = snapshot_sequence(tiny_snapshot, TINY_FRACTIONS)
    for small, large in zip(sequence, sequence[1:]):
        assert_extends(small, large)
    assert_extends(sequence[-1], tiny_snapshot)


def test_hashes_differ_by_size_and_are_stable(tiny_snapshot: GraphSnapshot) -> None:
    hashes = [s.manifest.content_hash for s in snapshot_sequence(tiny_snapshot, TINY_FRACTIONS)]
    assert len(set(hashes)) == len(hashes)
    assert hashes == [s.manifest.content_hash for s in snapshot_sequence(tiny_snapshot, TINY_FRACTIONS)]
    assert hashes[-1] == tiny_snapshot.manifest.content_hash  # fraction 1.0 is the original graph


def test_rows_out_of_id_order_keep_ids_below_cut(tiny_snapshot: GraphSnapshot) -> None:
    """The format does not require rows sorted by id: the cut is on ids, not row positions."""
    authors = tiny_snapshot.nodes["author"]
    shuffled = authors.take(pa.array([5, 2, 0, 4, 1, 3]))
    snapshot = GraphSnapshot(tiny_snapshot.manifest, {**tiny_snapshot.nodes, "author": shuffled}, tiny_snapshot.edges)
    subset = grow_subset(snapshot, 0.7)
    assert subset.nodes["author"].column("id").to_pylist() == [2, 0, 4, 1, 3]
    assert subset.nodes["author"].sort_by("id").equals(grow_subset(tiny_snapshot, 0.7).nodes["author"])


def test_written_folders_read_back_and_validate(tiny_snapshot: GraphSnapshot, tmp_path) -> None:
    sequence = snapshot_sequence(tiny_snapshot, TINY_FRACTIONS)
    folders = write_sequence(sequence, tmp_path / "out", "tiny")
    assert [f.name for f in folders] == ["tiny-000", "tiny-001", "tiny-002"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f.name for f in folders]
    for snapshot, folder in zip(sequence, folders):
        read_back = read_snapshot(folder)
        assert read_back.manifest == snapshot.manifest
        assert validate_snapshot(read_back)["success"]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01, 2, float("nan"), True])
def test_fraction_out_of_range(tiny_snapshot: GraphSnapshot, fraction: float) -> None:
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        grow_subset(tiny_snapshot, fraction)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        snapshot_sequence(tiny_snapshot, [fraction])


@pytest.mark.parametrize("fractions", [[0.8, 0.7], [0.8, 0.8], [0.7, 0.9, 0.8]])
def test_fractions_must_increase(tiny_snapshot: GraphSnapshot, fractions: list[float]) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        snapshot_sequence(tiny_snapshot, fractions)


def test_empty_fraction_list(tiny_snapshot: GraphSnapshot) -> None:
    with pytest.raises(ValueError, match="at least one fraction"):
        snapshot_sequence(tiny_snapshot, [])


def test_empty_split_names_fraction_and_split(tiny_snapshot: GraphSnapshot) -> None:
    with pytest.raises(ValueError, match=r"fraction 0\.5: .*'test' split"):
        grow_subset(tiny_snapshot, 0.5)  # 3 authors: train, train, val
    with pytest.raises(ValueError, match=r"fraction 0\.1: .*'val', 'test' split"):
        snapshot_sequence(tiny_snapshot, [0.1, 1.0])  # 1 author: train only


def test_refuses_to_overwrite(tiny_snapshot: GraphSnapshot, tmp_path) -> None:
    sequence = snapshot_sequence(tiny_snapshot, [0.7, 1.0])
    (tmp_path / "tiny-000").mkdir()  # an empty folder is fine to write into
    write_sequence(sequence, tmp_path, "tiny")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="tiny-000"):
        write_sequence(sequence, tmp_path, "tiny")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_refusal_writes_nothing(tiny_snapshot: GraphSnapshot, tmp_path) -> None:
    """A clash on a later folder is found before the earlier ones are written."""
    (tmp_path / "tiny-001").mkdir()
    (tmp_path / "tiny-001" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="tiny-001"):
        write_sequence(snapshot_sequence(tiny_snapshot, [0.7, 1.0]), tmp_path, "tiny")
    assert not (tmp_path / "tiny-000").exists()


def test_dblp_sequence() -> None:
    dblp = load_raw_dataset(load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "dblp").dataset)
    sequence = snapshot_sequence(dblp, [0.6, 0.8, 1.0])
    authors = [s.manifest.node_types["author"].count for s in sequence]
    assert authors == [2435, 3246, 4057]  # ceil(0.6 * 4057), ceil(0.8 * 4057), all
    splits = [collections.Counter(s.target_table().column("split").to_pylist()) for s in sequence]
    edges = [sum(edge_counts(s).values()) for s in sequence]
    print("\nDBLP growth:", [(a, {k: c[k] for k in ("train", "val", "test")}, e) for a, c, e in zip(authors, splits, edges)])
    assert splits[-1] == {"train": 974, "val": 243, "test": 2840}
    assert edges[-1] == 19645 + 85810 + 14328
    assert edges[0] < edges[1] < edges[2]
    for subset in sequence:
        assert_consistent(subset)
    for small, large in zip(sequence, sequence[1:]):
        assert_extends(small, large)
    assert sequence[-1].manifest.content_hash == dblp.manifest.content_hash
    assert validate_snapshot(sequence[0])["success"]
