import math

import dgl
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import brentq

from hg2m.config import CONFIG_DIR, DatasetConfig, GraphConfig, MetaPath, read_yaml
from hg2m.data.graph import build_graph_data
from hg2m.data.raw import load_raw_dataset
from hg2m.distill.metapaths import LR_L2, reliable_metapath_edges, row_cosine
from hg2m.graphs.metapaths import (
    adjacency_chain,
    chain_product,
    metapath_hops,
    metapath_neighbours,
    metapath_summary,
    resolve_metapath,
)

APA = ["author", "paper", "author"]
APTPA = ["author", "paper", "term", "paper", "author"]
APVPA = ["author", "paper", "venue", "paper", "author"]
DBLP_CAP = 50


@pytest.fixture
def graph(tiny_snapshot) -> dgl.DGLGraph:
    return build_graph_data(tiny_snapshot, GraphConfig()).graph


def metapath_counts(graph: dgl.DGLGraph, node_types: list[str]):
    """(N_first, N_last) M_P[i, j] = number of path instances from i to j: the whole product, uncapped."""
    return chain_product(adjacency_chain(graph, [(r, False) for r in resolve_metapath(graph, node_types)]))


def neighbours(graph: dgl.DGLGraph, paths: dict[str, list[str]], **options) -> pd.DataFrame:
    """metapath_neighbours of author meta-paths written as node-type lists."""
    return metapath_neighbours(graph, {n: MetaPath(node_types=p) for n, p in paths.items()}, "author", **options)


def pair_set(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["node"].tolist(), frame["neighbour"].tolist()))


def author_paper_graph(paper_author: list[tuple[int, int]], extra_author_paper: bool = False) -> dgl.DGLGraph:
    """A hand-built author/paper heterograph (optionally with a second author->paper relation)."""
    p, a = torch.tensor([e[0] for e in paper_author]), torch.tensor([e[1] for e in paper_author])
    data = {("paper", "writes", "author"): (p, a), ("author", "rev_writes", "paper"): (a, p)}
    if extra_author_paper:
        data[("author", "reviews", "paper")] = (a, p)
    return dgl.heterograph(data, idtype=torch.int64)


# --- meta-path counts on the conftest graph --------------------------------------------------------
# PAPER_AUTHOR: p0 {a0, a1}, p1 {a2}, p2 {a3, a4}, p3 {a5, a0}; PAPER_VENUE: p0 v0, p1 v1, p2 v0, p3 v1


def test_apa_counts_by_hand(graph):
    # APA[i, j] = papers shared by i and j; the diagonal = own paper count (a0 wrote p0 and p3 -> 2)
    expected = np.array([
        [2, 1, 0, 0, 0, 1],  # a0: p0 with a1, p3 with a5
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0],  # a3, a4 share p2
        [0, 0, 0, 1, 1, 0],
        [1, 0, 0, 0, 0, 1],
    ])
    counts = metapath_counts(graph, APA)
    assert counts.shape == (6, 6)
    np.testing.assert_array_equal(counts.toarray(), expected)


def test_apvpa_counts_by_hand(graph):
    # APV = author x venue path counts: a0 {v0 via p0, v1 via p3}, a1 v0, a2 v1, a3 v0, a4 v0, a5 v1
    #   B = [[1,1],[1,0],[0,1],[1,0],[1,0],[0,1]];  APVPA = B B^T, so M[i, j] = sum_v B[i, v] B[j, v]
    # a0 row: a0 1*1 + 1*1 = 2, every other author shares exactly one venue with a0 -> 1
    # a1 (v0): a0, a1, a3, a4 -> 1;  a2 (v1): a0, a2, a5 -> 1
    expected = np.array([
        [2, 1, 1, 1, 1, 1],
        [1, 1, 0, 1, 1, 0],
        [1, 0, 1, 0, 0, 1],
        [1, 1, 0, 1, 1, 0],
        [1, 1, 0, 1, 1, 0],
        [1, 0, 1, 0, 0, 1],
    ])
    np.testing.assert_array_equal(metapath_counts(graph, APVPA).toarray(), expected)


def test_counts_follow_edge_direction(graph):
    # A-P-V (author -> paper -> venue) is 6 x 2 with rows = authors: a0 reaches v0 and v1 once each
    apv = metapath_counts(graph, ["author", "paper", "venue"]).toarray()
    np.testing.assert_array_equal(apv, [[1, 1], [1, 0], [0, 1], [1, 0], [1, 0], [0, 1]])


def test_resolve_gives_canonical_relations(graph):
    assert resolve_metapath(graph, APVPA) == [
        ("author", "rev_paper_author", "paper"), ("paper", "paper_venue", "venue"),
        ("venue", "rev_paper_venue", "paper"), ("paper", "paper_author", "author"),
    ]


def test_resolve_errors_name_the_metapath_and_hop(graph):
    with pytest.raises(ValueError, match=r"author-venue-author: hop author->venue .* none"):
        resolve_metapath(graph, ["author", "venue", "author"])
    ambiguous = author_paper_graph([(0, 0), (0, 1)], extra_author_paper=True)
    with pytest.raises(ValueError, match="author-paper-author: hop author->paper") as error:
        resolve_metapath(ambiguous, APA)
    assert "rev_writes" in str(error.value) and "reviews" in str(error.value)  # the candidates are listed


def test_metapath_must_return_to_its_start_type(graph):
    with pytest.raises(ValueError, match="author-paper must start and end at the target type 'author'"):
        neighbours(graph, {"AP": ["author", "paper"]}, max_per_node=5)


def test_relation_paths_walk_each_relation_in_the_direction_that_continues_the_path(graph):
    """The tiny graph's relation paper_author goes paper -> author: A-P-A walks it backwards, then forwards."""
    via = MetaPath(relations=["paper_author", "paper_author"])
    hops = metapath_hops(graph, via, "author")
    assert [(relation[1], backwards) for relation, backwards in hops] == [("paper_author", True), ("paper_author", False)]
    by_types = neighbours(graph, {"APA": APA}, max_per_node=5)
    by_relations = metapath_neighbours(graph, {"APA": via}, "author", max_per_node=5)
    pd.testing.assert_frame_equal(by_types, by_relations)
    with pytest.raises(ValueError, match="relation 'paper_venue' .* does not touch type 'author'"):
        metapath_hops(graph, MetaPath(relations=["paper_venue"]), "author")
    with pytest.raises(ValueError, match="must start and end at the target type"):
        metapath_hops(graph, MetaPath(relations=["paper_author"]), "author")  # ends at paper


# --- capped neighbour pairs -------------------------------------------------------------------------


def test_uncapped_pairs_are_the_off_diagonal_upper_triangle(graph):
    frame = neighbours(graph, {"APA": APA}, max_per_node=5)
    assert list(frame.columns) == ["metapath", "node", "neighbour", "count"]
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "metapath": "str", "node": "int64", "neighbour": "int64", "count": "int64"}
    # from the APA matrix above: (0,1), (0,5), (3,4), each count 1; self pairs never
    assert pair_set(frame) == {(0, 1), (0, 5), (3, 4)} and frame["count"].tolist() == [1, 1, 1]


def test_cap_one_keeps_a_pair_when_either_endpoint_ranks_it_first():
    # papers: p0 {a0, a1}, p1 {a0, a2}, p2 {a0, a2}, p3 {a1, a3}
    # off-diagonal APA: (0,1) = 1, (0,2) = 2, (1,3) = 1
    # top-1 lists: a0 -> a2 (count 2 beats a1's 1), a1 -> a0 (tie with a3: smaller id), a2 -> a0, a3 -> a1
    # union: {0,2} from a0/a2, {0,1} from a1 only, {1,3} from a3 only
    g = author_paper_graph([(0, 0), (0, 1), (1, 0), (1, 2), (2, 0), (2, 2), (3, 1), (3, 3)])
    frame = neighbours(g, {"APA": APA}, max_per_node=1)
    assert dict(zip(zip(frame["node"], frame["neighbour"]), frame["count"])) == {(0, 1): 1, (0, 2): 2, (1, 3): 1}


def test_cap_one_on_tiny_graph(graph):
    # APA: a0's list {a1} (tie with a5 -> smaller id), a1 {a0}, a3 {a4}, a4 {a3}, a5 {a0} -> (0,5) via a5 only
    assert pair_set(neighbours(graph, {"APA": APA}, max_per_node=1)) == {(0, 1), (3, 4), (0, 5)}
    # APVPA: every off-diagonal count is 1, so each author's single pick is its smallest-id neighbour:
    # a0 -> a1, a1 -> a0, a2 -> a0, a3 -> a0, a4 -> a0, a5 -> a0
    capped = neighbours(graph, {"APVPA": APVPA}, max_per_node=1)
    assert pair_set(capped) == {(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)}


def test_min_count_and_empty_result(graph):
    # APVPA off-diagonal counts are all 1: min_count 2 leaves nothing, yet a typed frame comes back
    frame = neighbours(graph, {"APVPA": APVPA}, max_per_node=5, min_count=2)
    assert len(frame) == 0 and str(frame["node"].dtype) == "int64" and str(frame["count"].dtype) == "int64"
    assert len(neighbours(graph, {}, max_per_node=5)) == 0


def test_chunked_equals_whole(graph):
    metapaths = {"APVPA": APVPA, "APA": APA}
    whole = neighbours(graph, metapaths, max_per_node=2, chunk_rows=1024)
    chunked = neighbours(graph, metapaths, max_per_node=2, chunk_rows=1)
    pd.testing.assert_frame_equal(whole, chunked)
    assert (whole["node"] < whole["neighbour"]).all()
    assert metapath_summary(whole) == {"APA": 3, "APVPA": len(whole) - 3}


# --- reliable meta-path edges -----------------------------------------------------------------------


def edges_case(labels, train, reliable, observed, pairs, probs=None, min_weight=0.01) -> pd.DataFrame:
    """Run reliable_metapath_edges with one-hot features (every cosine is 0) and uniform probs unless given."""
    n = len(labels)
    probs = probs if probs is not None else torch.full((n, 2), 0.5)
    as_mask = lambda ids: torch.tensor([i in ids for i in range(n)])  # noqa: E731
    frame = pd.DataFrame({"node": [p[0] for p in pairs], "neighbour": [p[1] for p in pairs],
                          "count": [p[2] for p in pairs]})
    return reliable_metapath_edges(frame, torch.eye(n), probs, torch.tensor(labels), as_mask(train),
                                   as_mask(reliable), as_mask(observed), min_weight=min_weight)


def as_dict(edges: pd.DataFrame) -> dict[tuple[int, int], float]:
    return {(int(s), int(d)): float(w) for s, d, w in edges.itertuples(index=False)}


def test_reliable_edges_with_the_fitted_classifier():
    # train 0, 1, 2 (labels 0, 0, 1); reliable 0, 1, 3 (2 is a train node the teacher got wrong); 6 hidden.
    # Cosine (one-hot features) and p_i . p_j (uniform probs) are constant, so only the count matters.
    # Fit rows = train-train pairs: (0,1) count 3 same, (1,2) count 1 different -> standardised
    # z = (count - 2) / 1; symmetric data -> bias 0 and the weight w minimises ln(1 + e^-w) + LR_L2 w^2,
    # i.e. w (1 + e^w) = 1 / (2 LR_L2) = 500 -> w = 4.665, P(same) = sigmoid(w (count - 2)).
    w = brentq(lambda v: v * (1 + math.exp(v)) - 1 / (2 * LR_L2), 0, 50)
    assert w == pytest.approx(4.665, abs=1e-3)
    sigmoid = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    labels = [0, 0, 1, 0, 1, 0, 0]
    edges = edges_case(labels, train={0, 1, 2}, reliable={0, 1, 3}, observed={0, 1, 2, 3, 4, 5}, pairs=[
        (0, 1, 3),  # train-train, same label: weight 1, both reliable -> 0->1 and 1->0
        (1, 2, 1),  # train-train, different labels: dropped
        (3, 4, 5),  # P = sigmoid(3w) = 1 - 8.4e-7, only 3 reliable -> 3->4 alone
        (0, 4, 4),  # P = sigmoid(2w) = 1 - 8.9e-5, the smallest weight -> min-max 0 -> dropped
        (3, 5, 1),  # P = sigmoid(-w) = 0.0093 <= 0.5: not same-class, dropped
        (2, 4, 9),  # no reliable endpoint: dropped before anything else
        (3, 6, 9),  # 6 unobserved: dropped
    ])
    # 3->4 after min-max over {1, 1, s(3w), s(2w)}: (s(3w) - s(2w)) / (1 - s(2w)) = 1 - e^-w approx = 0.9906
    expected_34 = (sigmoid(3 * w) - sigmoid(2 * w)) / (1 - sigmoid(2 * w))
    assert as_dict(edges) == pytest.approx({(0, 1): 1.0, (1, 0): 1.0, (3, 4): expected_34}, rel=1e-4)
    assert expected_34 == pytest.approx(0.9906, abs=1e-4)
    assert {c: str(t) for c, t in edges.dtypes.items()} == {"src": "int64", "dst": "int64", "weight": "float64"}


def test_single_class_fallback_min_max_and_min_weight():
    # train-train pairs are all same-class, so no classifier: P = p_i . p_j.
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.602, 0.398]])
    case = dict(labels=[0, 0, 0, 0, 1, 0], train={0, 1}, reliable={0, 1}, observed=set(range(6)), probs=probs,
                pairs=[(0, 1, 1), (0, 2, 1), (1, 3, 1), (1, 4, 1), (0, 5, 1)])
    # before normalisation: 0<->1 weight 1 (train-train, same); 0->2 p0.p2 = 0.9; 1->3 0.6; 0->5 0.602;
    # 1->4: 0.2 <= 0.5, dropped. Min-max over [1, 1, 0.9, 0.6, 0.602]: (w - 0.6) / 0.4
    #   -> 0->2 0.75, 1->3 0 (dropped), 0->5 0.002 / 0.4 = 0.005 <= 0.01 (dropped)
    assert as_dict(edges_case(**case)) == pytest.approx({(0, 1): 1.0, (1, 0): 1.0, (0, 2): 0.75}, abs=1e-6)
    # a lower threshold keeps 0->5; 1->3 is 0 and 0 <= any non-negative threshold
    assert as_dict(edges_case(**case, min_weight=0.001)) == pytest.approx(
        {(0, 1): 1.0, (1, 0): 1.0, (0, 2): 0.75, (0, 5): 0.005}, abs=1e-6)  # float32 probs


def test_no_train_pairs_uses_teacher_agreement_and_equal_weights_become_one():
    # no train nodes at all: P = p0 . p1 = 0.8*0.7 + 0.2*0.3 = 0.62 > 0.5; one edge, all weights equal -> 1
    probs = torch.tensor([[0.8, 0.2], [0.7, 0.3]])
    edges = edges_case([0, 1], train=set(), reliable={1}, observed={0, 1}, pairs=[(0, 1, 4)], probs=probs)
    assert as_dict(edges) == {(1, 0): 1.0}


def test_no_surviving_pairs_gives_empty_typed_frame():
    edges = edges_case([0, 1], train=set(), reliable=set(), observed={0, 1}, pairs=[(0, 1, 1)])
    assert len(edges) == 0 and list(edges.columns) == ["src", "dst", "weight"]
    assert {c: str(t) for c, t in edges.dtypes.items()} == {"src": "int64", "dst": "int64", "weight": "float64"}


# --- the real DBLP graph ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dblp_graph() -> dgl.DGLGraph:
    config = DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "dblp.yaml"))
    return build_graph_data(load_raw_dataset(config), GraphConfig()).graph


def test_dblp_metapath_neighbours_are_capped(dblp_graph):
    metapaths = {"APA": APA, "APTPA": APTPA, "APVPA": APVPA}
    frame = neighbours(dblp_graph, metapaths, max_per_node=DBLP_CAP)
    n = dblp_graph.num_nodes("author")
    summary = metapath_summary(frame)
    assert set(summary) == set(metapaths)
    # each node's top list adds at most DBLP_CAP pairs, and every pair comes from some node's list
    assert all(0 < pairs <= n * DBLP_CAP for pairs in summary.values())
    assert (frame["count"] >= 1).all() and (frame["node"] < frame["neighbour"]).all()
    assert not frame.duplicated(["metapath", "node", "neighbour"]).any()
    # A-P-V-P-A is almost complete (20 venues): every author has more than DBLP_CAP candidates, so
    # every author keeps a full list and sits in at least DBLP_CAP pairs
    apvpa = frame[frame["metapath"] == "APVPA"]
    degree = np.bincount(np.r_[apvpa["node"], apvpa["neighbour"]], minlength=n)
    assert degree.min() >= DBLP_CAP


def test_dblp_chunks_do_not_change_the_result(dblp_graph):
    whole = neighbours(dblp_graph, {"APA": APA}, max_per_node=5, chunk_rows=10_000)
    pd.testing.assert_frame_equal(whole, neighbours(dblp_graph, {"APA": APA}, max_per_node=5, chunk_rows=333))


def test_pair_cosine_is_the_same_on_sparse_and_dense_features():
    torch.manual_seed(0)
    dense = torch.relu(torch.randn(6, 5))
    dense[3] = 0  # a zero row: cosine 0
    i, j = torch.tensor([0, 1, 3, 4]), torch.tensor([2, 5, 0, 4])
    torch.testing.assert_close(row_cosine(dense.to_sparse(), i, j), row_cosine(dense, i, j))
    assert row_cosine(dense, i, j)[2] == 0 and row_cosine(dense, i, j)[3] == pytest.approx(1.0)
