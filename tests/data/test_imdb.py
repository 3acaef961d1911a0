"""The real IMDB raw files (MAGNN = PyG IMDB), as shipped in data/raw/imdb."""

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from hg2m.config import CONFIG_DIR, DatasetConfig, GraphConfig, load_run_config, read_yaml
from hg2m.data.graph import build_graph_data
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import GraphSnapshot
from hg2m.data.validation import validate_snapshot
from hg2m.graphs.metapaths import metapath_neighbours

# Counts stated in data/raw/imdb/SOURCE.md.
NODE_COUNTS = {"movie": 4278, "director": 2081, "actor": 5257}
EDGE_COUNTS = {"movie_director": 4278, "movie_actor": 12828}
FEATURE_DIM = 3066
CLASS_COUNTS = {0: 1135, 1: 1584, 2: 1559}  # Action, Comedy, Drama
SPLIT_SIZES = {"train": 400, "val": 400, "test": 3478}
TRAIN_CLASS_COUNTS = [100, 159, 141]
MAX_PER_NODE = 50


@pytest.fixture(scope="module")
def imdb_config() -> DatasetConfig:
    return DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "imdb.yaml"))


@pytest.fixture(scope="module")
def imdb_snapshot(imdb_config) -> GraphSnapshot:
    return load_raw_dataset(imdb_config)


@pytest.fixture
def raw_copy(imdb_config, tmp_path) -> Path:
    """A writable copy of the raw folder, to break one file at a time."""
    return Path(shutil.copytree(imdb_config.resolved_raw_dir(), tmp_path / "imdb"))


def test_imdb_counts_features_and_edges(imdb_snapshot):
    manifest = imdb_snapshot.manifest
    assert manifest.target_type == "movie" and manifest.class_names == ["Action", "Comedy", "Drama"]
    assert {t: i.count for t, i in manifest.node_types.items()} == NODE_COUNTS
    assert {t: (i.feature_format, i.feature_dim) for t, i in manifest.node_types.items()} == {
        t: ("sparse", FEATURE_DIM) for t in NODE_COUNTS}
    assert {r.name: r.num_edges for r in manifest.relations} == EDGE_COUNTS
    assert {r.name: (r.src_type, r.dst_type) for r in manifest.relations} == {
        "movie_director": ("movie", "director"), "movie_actor": ("movie", "actor")}


def test_imdb_edges_use_local_ids(imdb_snapshot):
    director = imdb_snapshot.edges["movie_director"]
    # each movie has exactly one director, so its movie column is every movie once
    assert sorted(director.column("src").to_pylist()) == list(range(NODE_COUNTS["movie"]))
    assert max(director.column("dst").to_pylist()) < NODE_COUNTS["director"]
    actor = imdb_snapshot.edges["movie_actor"]
    assert max(actor.column("src").to_pylist()) < NODE_COUNTS["movie"]
    assert max(actor.column("dst").to_pylist()) < NODE_COUNTS["actor"]


def test_imdb_labels_and_magnn_split(imdb_snapshot):
    target = imdb_snapshot.target_table()
    labels = np.asarray(target.column("label").to_pylist())
    parts = np.asarray(target.column("split").to_pylist(), dtype=object)
    assert collections.Counter(labels.tolist()) == CLASS_COUNTS
    assert collections.Counter(parts.tolist()) == SPLIT_SIZES  # covers every movie, no "none"
    assert np.bincount(labels[parts == "train"]).tolist() == TRAIN_CLASS_COUNTS


def test_imdb_snapshot_passes_validation(imdb_snapshot):
    report = validate_snapshot(imdb_snapshot)
    assert report["success"]
    assert all(entry["success"] and entry["evaluated"] > 0 for entry in report["files"].values())


def test_imdb_graph_and_metapath_neighbours(imdb_config, imdb_snapshot):
    data = build_graph_data(imdb_snapshot, GraphConfig())
    assert {t: data.graph.num_nodes(t) for t in data.graph.ntypes} == NODE_COUNTS
    assert {k: len(v) for k, v in data.splits.items()} == SPLIT_SIZES
    assert data.target_features().shape == (NODE_COUNTS["movie"], FEATURE_DIM)
    pairs = metapath_neighbours(data.graph, imdb_config.metapaths, imdb_config.target_type, max_per_node=MAX_PER_NODE)
    assert set(pairs["metapath"]) == {"MDM", "MAM"}
    assert (pairs["node"] < pairs["neighbour"]).all() and pairs["neighbour"].max() < NODE_COUNTS["movie"]


def test_distill_config_loads_with_imdb():
    config = load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "imdb")
    assert config.dataset.loader == "imdb" and config.dataset.target_type == "movie"
    assert set(config.dataset.metapaths) == {"MDM", "MAM"}

def test_unknown_split_lists_choices(imdb_config):
    with pytest.raises(ValueError, match=r"'hgb' is not one of \('magnn',\)"):
        load_raw_dataset(imdb_config.model_copy(update={"split": "hgb"}))


def test_missing_raw_file_is_named(imdb_config, raw_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        load_raw_dataset(imdb_config.model_copy(update={"raw_dir": tmp_path / "empty"}))
    (raw_copy / "magnn" / "adjM.npz").unlink()
    with pytest.raises(FileNotFoundError, match="adjM.npz"):
        load_raw_dataset(imdb_config.model_copy(update={"raw_dir": raw_copy}))


def test_missing_edges_name_the_file(imdb_config, raw_copy):
    path = raw_copy / "magnn" / "adjM.npz"
    adj = sp.load_npz(path).tolil()
    first_director = NODE_COUNTS["movie"]  # global ids: directors follow the movies
    movie = 0
    director = first_director + adj[movie, first_director:first_director + NODE_COUNTS["director"]].nonzero()[1][0]
    adj[movie, director] = adj[director, movie] = 0  # drop movie 0's one undirected movie-director edge
    sp.save_npz(path, adj.tocsr())
    with pytest.raises(ValueError, match=r"adjM.npz: expected 34212 non-zeros, found 34210"):
        load_raw_dataset(imdb_config.model_copy(update={"raw_dir": raw_copy}))


def test_wrong_type_counts_name_the_file(imdb_config, raw_copy):
    path = raw_copy / "magnn" / "node_types.npy"
    codes = np.load(path)
    codes[NODE_COUNTS["movie"]] = 0  # the first director becomes a movie
    np.save(path, codes)
    with pytest.raises(ValueError, match=r"node_types.npy: expected \[4278, 2081, 5257\] nodes per type"):
        load_raw_dataset(imdb_config.model_copy(update={"raw_dir": raw_copy}))
