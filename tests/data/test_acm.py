"""The real ACM raw files (HeCo), as shipped in data/raw/acm."""

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest

from hg2m.config import CONFIG_DIR, DatasetConfig, GraphConfig, load_run_config, read_yaml
from hg2m.data.graph import build_graph_data
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import GraphSnapshot
from hg2m.data.validation import validate_snapshot
from hg2m.graphs.metapaths import metapath_neighbours

# Counts stated in data/raw/acm/SOURCE.md.
NODE_COUNTS = {"paper": 4019, "author": 7167, "subject": 60}
EDGE_COUNTS = {"paper_author": 13407, "paper_subject": 4019}
FEATURE_DIMS = {"paper": 1902, "author": 1902, "subject": 0}
CLASS_COUNTS = {0: 1993, 1: 965, 2: 1061}
VAL_SIZE = TEST_SIZE = 1000
NUM_CLASSES = 3
MAX_PER_NODE = 50


@pytest.fixture(scope="module")
def acm_config() -> DatasetConfig:
    return DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "acm.yaml"))


@pytest.fixture(scope="module")
def acm_snapshot(acm_config) -> GraphSnapshot:
    return load_raw_dataset(acm_config)


@pytest.fixture
def raw_copy(acm_config, tmp_path) -> Path:
    """A writable copy of the raw folder, to break one file at a time."""
    return Path(shutil.copytree(acm_config.resolved_raw_dir(), tmp_path / "acm"))


def test_acm_counts_features_and_edges(acm_snapshot):
    manifest = acm_snapshot.manifest
    assert manifest.target_type == "paper" and manifest.num_classes == NUM_CLASSES
    assert {t: i.count for t, i in manifest.node_types.items()} == NODE_COUNTS
    assert {t: i.feature_dim for t, i in manifest.node_types.items()} == FEATURE_DIMS
    formats = {t: i.feature_format for t, i in manifest.node_types.items()}
    assert formats == {"paper": "sparse", "author": "sparse", "subject": "none"}
    assert {r.name: r.num_edges for r in manifest.relations} == EDGE_COUNTS
    assert {r.name: (r.src_type, r.dst_type) for r in manifest.relations} == {
        "paper_author": ("paper", "author"), "paper_subject": ("paper", "subject")}


def test_acm_labels_are_known_for_every_paper(acm_snapshot):
    labels = acm_snapshot.target_table().column("label").to_pylist()
    assert collections.Counter(labels) == CLASS_COUNTS  # float64 on disk, cast without loss


@pytest.mark.parametrize("split,per_class", [("20", 20), ("40", 40), ("60", 60)])
def test_heco_splits(acm_config, split, per_class):
    target = load_raw_dataset(acm_config.model_copy(update={"split": split})).target_table()
    parts = np.asarray(target.column("split").to_pylist(), dtype=object)
    train = NUM_CLASSES * per_class
    # every node carries one part, so exact sizes also mean the three files are disjoint
    assert collections.Counter(parts) == {"train": train, "val": VAL_SIZE, "test": TEST_SIZE,
                                          "none": NODE_COUNTS["paper"] - train - VAL_SIZE - TEST_SIZE}
    labels = np.asarray(target.column("label").to_pylist())
    assert np.bincount(labels[parts == "train"]).tolist() == [per_class] * NUM_CLASSES


def test_acm_snapshot_passes_validation(acm_snapshot):
    report = validate_snapshot(acm_snapshot)
    assert report["success"]
    assert all(entry["success"] and entry["evaluated"] > 0 for entry in report["files"].values())


def test_acm_graph_and_metapath_neighbours(acm_config, acm_snapshot):
    data = build_graph_data(acm_snapshot, GraphConfig())
    assert {t: data.graph.num_nodes(t) for t in data.graph.ntypes} == NODE_COUNTS
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 60, "val": VAL_SIZE, "test": TEST_SIZE}
    assert data.target_features().shape == (NODE_COUNTS["paper"], FEATURE_DIMS["paper"])
    pairs = metapath_neighbours(data.graph, acm_config.metapaths, acm_config.target_type, max_per_node=MAX_PER_NODE)
    assert set(pairs["metapath"]) == {"PAP", "PSP"}
    assert (pairs["node"] < pairs["neighbour"]).all() and pairs["neighbour"].max() < NODE_COUNTS["paper"]


def test_distill_config_loads_with_acm():
    config = load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "acm")
    assert config.dataset.loader == "acm" and config.dataset.target_type == "paper"
    assert set(config.dataset.metapaths) == {"PAP", "PSP"}

def test_unknown_split_lists_choices(acm_config):
    with pytest.raises(ValueError, match=r"'magnn' is not one of \('20', '40', '60'\)"):
        load_raw_dataset(acm_config.model_copy(update={"split": "magnn"}))


def test_missing_raw_file_is_named(acm_config, raw_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        load_raw_dataset(acm_config.model_copy(update={"raw_dir": tmp_path / "empty"}))
    (raw_copy / "heco" / "pa.txt").unlink()
    with pytest.raises(FileNotFoundError, match="pa.txt"):
        load_raw_dataset(acm_config.model_copy(update={"raw_dir": raw_copy}))


def test_wrong_edge_count_names_the_file(acm_config, raw_copy):
    path = raw_copy / "heco" / "ps.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(ValueError, match=r"ps.txt: expected 4019 paper_subject edges, found 4018"):
        load_raw_dataset(acm_config.model_copy(update={"raw_dir": raw_copy}))
