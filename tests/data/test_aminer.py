"""The real AMiner raw files (HeCo), as shipped in data/raw/aminer."""

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest

from hg2m.config import CONFIG_DIR, DatasetConfig, GraphConfig, read_yaml
from hg2m.config.metapaths import derive_metapaths
from hg2m.data.graph import build_graph_data
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import GraphSnapshot
from hg2m.data.validation import validate_snapshot
from hg2m.graphs.metapaths import metapath_neighbours

# Counts stated in data/raw/aminer/SOURCE.md.
NODE_COUNTS = {"paper": 6564, "author": 13329, "reference": 35890}
EDGE_COUNTS = {"paper_author": 18007, "paper_reference": 58831}
CLASS_COUNTS = {0: 1333, 1: 1114, 2: 526, 3: 3591}
VAL_SIZE = TEST_SIZE = 1000
NUM_CLASSES = 4
MAX_PER_NODE = 50


@pytest.fixture(scope="module")
def aminer_config() -> DatasetConfig:
    return DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "aminer.yaml"))


@pytest.fixture(scope="module")
def aminer_snapshot(aminer_config) -> GraphSnapshot:
    return load_raw_dataset(aminer_config)


@pytest.fixture
def raw_copy(aminer_config, tmp_path) -> Path:
    """A writable copy of the raw folder, to break one file at a time."""
    return Path(shutil.copytree(aminer_config.resolved_raw_dir(), tmp_path / "aminer"))


def test_aminer_config_has_no_metapaths(aminer_config):
    assert aminer_config.loader == "aminer" and aminer_config.split == "20"
    assert aminer_config.metapaths == {}  # derived from the schema, not configured


def test_aminer_counts_edges_and_no_features(aminer_snapshot):
    manifest = aminer_snapshot.manifest
    assert manifest.target_type == "paper" and manifest.num_classes == NUM_CLASSES
    assert {t: i.count for t, i in manifest.node_types.items()} == NODE_COUNTS
    assert {t: (i.feature_format, i.feature_dim) for t, i in manifest.node_types.items()} == {
        t: ("none", 0) for t in NODE_COUNTS}
    assert {t: tbl.column_names for t, tbl in aminer_snapshot.nodes.items()} == {
        "paper": ["id", "label", "split"], "author": ["id"], "reference": ["id"]}
    assert {r.name: r.num_edges for r in manifest.relations} == EDGE_COUNTS
    assert {r.name: (r.src_type, r.dst_type) for r in manifest.relations} == {
        "paper_author": ("paper", "author"), "paper_reference": ("paper", "reference")}


def test_aminer_every_node_has_an_edge(aminer_snapshot):
    for name, other in (("paper_author", "author"), ("paper_reference", "reference")):
        table = aminer_snapshot.edges[name]
        assert len(np.unique(table.column("src").to_numpy())) == NODE_COUNTS["paper"]
        assert len(np.unique(table.column("dst").to_numpy())) == NODE_COUNTS[other]


def test_aminer_labels_are_known_for_every_paper(aminer_snapshot):
    labels = aminer_snapshot.target_table().column("label").to_pylist()
    assert collections.Counter(labels) == CLASS_COUNTS


@pytest.mark.parametrize("split,per_class", [("20", 20), ("40", 40), ("60", 60)])
def test_heco_splits(aminer_config, split, per_class):
    target = load_raw_dataset(aminer_config.model_copy(update={"split": split})).target_table()
    parts = np.asarray(target.column("split").to_pylist(), dtype=object)
    train = NUM_CLASSES * per_class
    # every node carries one part, so exact sizes also mean the three files are disjoint
    assert collections.Counter(parts) == {"train": train, "val": VAL_SIZE, "test": TEST_SIZE,
                                          "none": NODE_COUNTS["paper"] - train - VAL_SIZE - TEST_SIZE}
    labels = np.asarray(target.column("label").to_pylist())
    assert np.bincount(labels[parts == "train"]).tolist() == [per_class] * NUM_CLASSES


def test_aminer_snapshot_passes_validation(aminer_snapshot):
    report = validate_snapshot(aminer_snapshot)
    assert report["success"]
    assert all(entry["success"] and entry["evaluated"] > 0 for entry in report["files"].values())


def test_aminer_graph_and_derived_metapath_neighbours(aminer_snapshot):
    data = build_graph_data(aminer_snapshot, GraphConfig())
    assert {t: data.graph.num_nodes(t) for t in data.graph.ntypes} == NODE_COUNTS
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 80, "val": VAL_SIZE, "test": TEST_SIZE}
    assert data.features == {}
    assert {e: data.graph.num_edges(e) for e in data.graph.etypes} == {
        **EDGE_COUNTS, **{f"rev_{name}": count for name, count in EDGE_COUNTS.items()}}
    metapaths = derive_metapaths(aminer_snapshot.manifest.target_type, aminer_snapshot.manifest.relations)
    assert set(metapaths) == {"paper-author-paper", "paper-reference-paper"}
    pairs = metapath_neighbours(data.graph, metapaths, "paper", max_per_node=MAX_PER_NODE)
    assert set(pairs["metapath"]) == set(metapaths)
    assert (pairs["node"] < pairs["neighbour"]).all() and pairs["neighbour"].max() < NODE_COUNTS["paper"]


def test_unknown_split_lists_choices(aminer_config):
    with pytest.raises(ValueError, match=r"AMiner split 'magnn' is not one of \('20', '40', '60'\)"):
        load_raw_dataset(aminer_config.model_copy(update={"split": "magnn"}))


def test_missing_raw_file_is_named(aminer_config, raw_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        load_raw_dataset(aminer_config.model_copy(update={"raw_dir": tmp_path / "empty"}))
    (raw_copy / "pr.txt").unlink()
    with pytest.raises(FileNotFoundError, match="pr.txt"):
        load_raw_dataset(aminer_config.model_copy(update={"raw_dir": raw_copy}))
    (raw_copy / "val_40.npy").unlink()
    with pytest.raises(FileNotFoundError, match="val_40.npy"):
        load_raw_dataset(aminer_config.model_copy(update={"raw_dir": raw_copy, "split": "40"}))


def test_wrong_edge_count_names_the_file(aminer_config, raw_copy):
    path = raw_copy / "pa.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ValueError, match=r"pa.txt: expected 18007 paper_author edges, found 18006"):
        load_raw_dataset(aminer_config.model_copy(update={"raw_dir": raw_copy}))


def test_out_of_range_id_names_the_file(aminer_config, raw_copy):
    path = raw_copy / "pr.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:-1], f"0\t{NODE_COUNTS['reference']}\n"]))
    with pytest.raises(ValueError, match=r"pr.txt: column 1 has reference ids outside 0..35889"):
        load_raw_dataset(aminer_config.model_copy(update={"raw_dir": raw_copy}))
