import numpy as np
import pandas as pd
import pytest
import torch

from hg2m.config import GraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.distill.metapaths import metapath_counts, metapath_neighbours, reliable_metapath_edges, resolve_metapath

APA = ["author", "paper", "author"]
APVPA = ["author", "paper", "venue", "paper", "author"]


@pytest.fixture
def graph(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig()).graph


def test_apa_counts_by_hand(graph):
    # papers (conftest PAPER_AUTHOR): p0 {a0, a1}, p1 {a2}, p2 {a3, a4}, p3 {a5, a0}
    # APA[i, j] = shared papers; the diagonal = own paper count (a0 has p0 and p3)
    expected = np.array([
        [2, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [0, 0, 0, 1, 1, 0],
        [1, 0, 0, 0, 0, 1],
    ])
    np.testing.assert_array_equal(metapath_counts(graph, APA).toarray(), expected)


def test_apvpa_counts_by_hand(graph):
    # venues (PAPER_VENUE): v0 {p0, p2} -> authors {a0, a1} x {a3, a4} paths; v1 {p1, p3} -> {a2} x {a5, a0}
    m = metapath_counts(graph, APVPA).toarray()
    assert m[0, 3] == 1 and m[1, 4] == 1 and m[2, 5] == 1 and m[2, 0] == 1
    # a0 -> a0: via p0-v0-p0 and p3-v1-p3 = 2 paths
    assert m[0, 0] == 2
    np.testing.assert_array_equal(m, m.T)


def test_resolve_errors_name_the_hop(graph):
    with pytest.raises(ValueError, match="hop author->venue"):
        resolve_metapath(graph, ["author", "venue", "author"])
    with pytest.raises(ValueError, match="same type"):
        metapath_neighbours(graph, {"AP": ["author", "paper"]}, max_per_node=5)


def test_pairs_are_unordered_and_capped(graph):
    frame = metapath_neighbours(graph, {"APA": APA}, max_per_node=5)
    pairs = set(zip(frame["node"], frame["neighbour"]))
    assert pairs == {(0, 1), (0, 5), (3, 4)}
    assert (frame["node"] < frame["neighbour"]).all() and (frame["count"] >= 1).all()
    # APVPA, cap 1: each author keeps its single best neighbour (ties -> smaller id); a pair stays if
    # either endpoint kept it. a0: counts a1..a5 = [0, 1, 1, 1, 1]? computed below from the matrix.
    m = metapath_counts(graph, APVPA).toarray()
    np.fill_diagonal(m, 0)
    best = {i: int(np.lexsort((np.arange(6), -m[i]))[0]) for i in range(6) if m[i].max() > 0}
    expected = {(min(i, j), max(i, j)) for i, j in best.items()}
    capped = metapath_neighbours(graph, {"APVPA": APVPA}, max_per_node=1)
    assert set(zip(capped["node"], capped["neighbour"])) == expected


def test_chunked_equals_whole(graph):
    whole = metapath_neighbours(graph, {"APVPA": APVPA, "APA": APA}, max_per_node=2, chunk_rows=1024)
    chunked = metapath_neighbours(graph, {"APVPA": APVPA, "APA": APA}, max_per_node=2, chunk_rows=1)
    pd.testing.assert_frame_equal(whole, chunked)


def edges_case(labels, train, reliable, observed, pairs, probs=None):
    n = len(labels)
    features = torch.eye(n)
    probs = probs if probs is not None else torch.full((n, 2), 0.5)
    as_mask = lambda ids: torch.tensor([i in ids for i in range(n)])  # noqa: E731
    frame = pd.DataFrame({"node": [p[0] for p in pairs], "neighbour": [p[1] for p in pairs], "count": [p[2] for p in pairs]})
    return reliable_metapath_edges(frame, features, probs, torch.tensor(labels), as_mask(train), as_mask(reliable), as_mask(observed))


def test_reliable_edges_filtering_and_direction():
    # train nodes 0, 1, 2 (labels 0, 0, 1); reliable: 0, 1, 3; node 5 unobserved.
    # A single class among train-train pairs would block the classifier, so here pairs (0,1) same and
    # (1,2) different give both outcomes.
    labels = [0, 0, 1, 0, 1, 0]
    edges = edges_case(labels, train={0, 1, 2}, reliable={0, 1, 3}, observed={0, 1, 2, 3, 4},
                       pairs=[(0, 1, 3), (1, 2, 1), (3, 4, 2), (2, 4, 1), (3, 5, 5)])
    got = {(s, d): w for s, d, w in edges.itertuples(index=False)}
    # (0,1): train-train same label -> weight 1, both reliable -> both directions
    assert got[(0, 1)] == pytest.approx(1.0) and got[(1, 0)] == pytest.approx(1.0)
    # (1,2): train-train different labels -> dropped; (2,4): no reliable endpoint -> dropped; (3,5): 5 hidden
    assert not any({s, d} in ({1, 2}, {2, 4}, {3, 5}) for s, d in got)
    # (3,4): only 3 is reliable -> a single edge 3 -> 4 if the classifier calls it same-class
    assert (4, 3) not in got


def test_single_class_fallback_and_min_max():
    # train-train pairs all same-class: the teacher agreement p_i . p_j is the probability.
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    labels = [0, 0, 0, 0, 1]
    edges = edges_case(labels, train={0, 1}, reliable={0, 1}, observed={0, 1, 2, 3, 4},
                       pairs=[(0, 1, 1), (0, 2, 1), (1, 3, 1), (1, 4, 1)], probs=probs)
    # weights before normalisation: (0,1) 1 both ways; 0->2: 0.9; 1->3: 0.6; 1->4: 0.2 < 0.5 dropped
    # min-max over [1, 1, 0.9, 0.6]: (w - 0.6) / 0.4 -> [1, 1, 0.75, 0] and 0 <= 0.01 is dropped
    got = {(s, d): w for s, d, w in edges.itertuples(index=False)}
    assert got == pytest.approx({(0, 1): 1.0, (1, 0): 1.0, (0, 2): 0.75})


def test_no_surviving_pairs_gives_empty_typed_frame():
    edges = edges_case([0, 1], train=set(), reliable=set(), observed={0, 1}, pairs=[(0, 1, 1)])
    assert len(edges) == 0 and list(edges.columns) == ["src", "dst", "weight"] and str(edges["src"].dtype) == "int64"
