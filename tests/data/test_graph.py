import numpy as np
import torch
from conftest import AUTHOR_FEATURES, LABELS, PAPER_AUTHOR, PAPER_FEATURES

from hg2m.config import GraphConfig
from hg2m.data.graph import HeteroGraphData, build_graph_data


def test_graph_has_relations_and_reverse_edges(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig(add_reverse_edges=True))
    g = data.graph
    assert {t: g.num_nodes(t) for t in g.ntypes} == {"author": 6, "paper": 4, "venue": 2}
    assert sorted(g.canonical_etypes) == sorted([
        ("paper", "paper_author", "author"), ("author", "rev_paper_author", "paper"),
        ("paper", "paper_venue", "venue"), ("venue", "rev_paper_venue", "paper"),
    ])
    src, dst = g.edges(etype="paper_author")
    assert sorted(zip(src.tolist(), dst.tolist())) == sorted(PAPER_AUTHOR)
    rsrc, rdst = g.edges(etype="rev_paper_author")
    assert sorted(zip(rdst.tolist(), rsrc.tolist())) == sorted(PAPER_AUTHOR)


def test_without_reverse_edges(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig(add_reverse_edges=False))
    assert sorted(data.graph.etypes) == ["paper_author", "paper_venue"]


def test_features_labels_and_splits(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    assert set(data.features) == {"author", "paper"}
    assert not data.features["author"].is_sparse
    assert data.features["paper"].is_sparse
    np.testing.assert_allclose(data.target_features().numpy(), AUTHOR_FEATURES)
    np.testing.assert_allclose(data.features["paper"].to_dense().numpy(), PAPER_FEATURES.toarray())
    assert data.labels.tolist() == LABELS.tolist()
    assert {k: v.tolist() for k, v in data.splits.items()} == {"train": [0, 1], "val": [2, 3], "test": [4, 5]}
    assert data.snapshot_hash == tiny_snapshot.manifest.content_hash


def test_save_and_load_round_trip(tiny_snapshot, tmp_path):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    data.save(tmp_path)
    loaded = HeteroGraphData.load(tmp_path)
    assert loaded.graph.canonical_etypes == data.graph.canonical_etypes
    assert loaded.graph.num_edges() == data.graph.num_edges()
    assert torch.equal(loaded.features["paper"].to_dense(), data.features["paper"].to_dense())
    assert torch.equal(loaded.labels, data.labels)
    assert (loaded.target_type, loaded.num_classes, loaded.snapshot_hash) == ("author", 2, data.snapshot_hash)
