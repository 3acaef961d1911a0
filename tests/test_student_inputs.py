"""Student inputs from the one-hop neighbourhood: layout, hand-checked rows, the inductive rule, new nodes."""

import dataclasses

import dgl
import numpy as np
import pytest
import torch

from hg2m.config import GraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.data.snapshot import (
    GraphSnapshot,
    RelationInfo,
    SnapshotManifest,
    edge_table,
    node_table,
    with_hash,
)
from hg2m.models.mlp import MLP, PreparedInputs, run_mlp
from hg2m.student_inputs import (
    BagBlock,
    ExistingNodeInputs,
    InputLayout,
    MeanBlock,
    NodeEdges,
    build_inputs,
    derive_inputs,
    input_layout,
    mean_features,
)

LABELS = np.array([0, 1, 0, 1, 0, 1])
SPLIT = np.array(["train", "train", "val", "val", "test", "test"], dtype=object)


def snapshot(target: str, nodes: dict, edges: dict[str, tuple[str, str, list]]) -> GraphSnapshot:
    """nodes: type -> (count, features or None); edges: relation -> (src type, dst type, [(src, dst)])."""
    tables, infos = {}, {}
    for t, (count, feats) in nodes.items():
        labelled = (LABELS[:count], SPLIT[:count]) if t == target else (None, None)
        tables[t], infos[t] = node_table(count, feats, *labelled)
    edge_tables, relations = {}, []
    for name, (src, dst, pairs) in edges.items():
        e = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        edge_tables[name] = edge_table(e[:, 0], e[:, 1])
        relations.append(RelationInfo(name=name, src_type=src, dst_type=dst, num_edges=len(e)))
    manifest = SnapshotManifest(name="t", target_type=target, num_classes=2, node_types=infos, relations=relations)
    return with_hash(GraphSnapshot(manifest=manifest, nodes=tables, edges=edge_tables))


@pytest.fixture
def tiny(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig())


# Papers are the target and have NO features (AMiner-like); they cite papers (with a duplicate edge and
# a self-loop), have authors (dense features) and venues (none).
PAPER_FEATS = np.array([[1, 0], [0, 2], [4, 4], [6, 0], [0, 8]], dtype=np.float32)
AUTHOR_FEATS = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32)
CITES = [(0, 1), (1, 2), (2, 3), (3, 3), (4, 0), (4, 0)]
WRITES = [(0, 0), (0, 1), (1, 1), (2, 2), (3, 2)]  # paper -> author
VENUE = [(0, 0), (1, 0), (2, 1)]  # paper -> venue; papers 3 and 4 have none


def papers(paper_features: np.ndarray | None):
    nodes = {"paper": (5, paper_features), "author": (3, AUTHOR_FEATS), "venue": (2, None)}
    edges = {"cites": ("paper", "paper", CITES), "writes": ("paper", "author", WRITES),
             "published": ("paper", "venue", VENUE)}
    return build_graph_data(snapshot("paper", nodes, edges), GraphConfig())


def dense_rows(x: torch.Tensor) -> np.ndarray:
    return (x.to_dense() if x.is_sparse else x).numpy()


def block(layout: InputLayout, x: torch.Tensor, name: str) -> np.ndarray:
    start, stop = layout.offsets()[name]
    return dense_rows(x)[:, start:stop]


def test_layout_blocks_widths_and_json(tiny):
    layout = input_layout(tiny, "own+neighbours")
    # paper_venue does not touch authors; venues have no features anyway; rev_paper_author is skipped
    assert layout == InputLayout(kind="own+neighbours", target_type="author", own_dim=3,
                                 means=[MeanBlock(node_type="paper", relations=["paper_author"], dim=5)],
                                 bags=[BagBlock(relation="paper_author", node_type="paper", num_nodes=4)])
    assert layout.width == 3 + 5 + 4
    assert layout.offsets() == {"own": (0, 3), "mean:paper": (3, 8), "bag:paper_author": (8, 12)}
    assert InputLayout.model_validate_json(layout.model_dump_json()) == layout
    own = input_layout(tiny, "own")
    assert (own.width, own.means, own.bags) == (3, [], [])


def test_featureless_target_layout_and_clear_error_for_own():
    data = papers(None)
    with pytest.raises(ValueError, match=r"'paper' has no features.*own\+neighbours"):
        input_layout(data, "own")
    layout = input_layout(data, "own+neighbours")
    assert layout.own_dim == 0
    assert layout.means == [MeanBlock(node_type="author", relations=["writes"], dim=3)]  # papers: no features
    assert [(b.relation, b.node_type, b.num_nodes) for b in layout.bags] == [
        ("cites", "paper", 5), ("published", "venue", 2), ("writes", "author", 3)]
    assert layout.width == 3 + 5 + 2 + 3
    x = build_inputs(data, layout)
    assert x.is_sparse and x.shape == (5, layout.width) and x.dtype == torch.float32


def test_own_inputs_are_the_target_features(tiny):
    x = build_inputs(tiny, input_layout(tiny, "own"))
    assert not x.is_sparse
    torch.testing.assert_close(x, tiny.target_features(), rtol=0, atol=0)


def test_hand_checked_rows_on_the_tiny_graph(tiny):
    layout = input_layout(tiny, "own+neighbours")
    x = build_inputs(tiny, layout)
    assert x.is_sparse and x.is_coalesced() and x.shape == (6, 12)
    np.testing.assert_array_equal(block(layout, x, "own"), tiny.target_features().numpy())
    # author 0 wrote papers 0 and 3; author 1 paper 0; author 2 paper 1
    bag = block(layout, x, "bag:paper_author")
    np.testing.assert_allclose(bag[0], [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(bag[1], [1, 0, 0, 0])
    mean = block(layout, x, "mean:paper")
    np.testing.assert_allclose(mean[0], ([1, 0, 0, 2, 0] + np.array([1, 1, 0, 0, 0])) / 2)
    np.testing.assert_allclose(mean[2], [0, 1, 0, 0, 0])
    np.testing.assert_allclose(bag.sum(1), np.ones(6), rtol=1e-6)


def test_preprocessed_features_are_used_and_checked(tiny):
    features = {t: (f.to_dense() if f.is_sparse else f) * 2 for t, f in tiny.features.items()}
    layout = input_layout(tiny, "own+neighbours", features)
    x = dense_rows(build_inputs(tiny, layout, features))
    np.testing.assert_allclose(x[0, :3], 2 * tiny.target_features().numpy()[0])
    np.testing.assert_allclose(x[0, 3:8], [2, 1, 0, 2, 0])
    wrong = dict(features, paper=torch.ones(4, 7))
    with pytest.raises(ValueError, match="mean block of 'paper'.*width 5"):
        build_inputs(tiny, layout, wrong)


def test_bags_are_row_normalised_and_means_plain_with_undirected_target_relation():
    data = papers(PAPER_FEATS)
    layout = input_layout(data, "own+neighbours")
    assert [m.node_type for m in layout.means] == ["author", "paper"]  # papers have features now
    x = build_inputs(data, layout)
    cites = block(layout, x, "bag:cites")
    # undirected: 0 <- 1 (out), 4 twice (in); 3: 2 (in) and its self-loop once; 4: 0 twice (out)
    np.testing.assert_allclose(cites[0], [0, 1 / 3, 0, 0, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(cites[3], [0, 0, 0.5, 0.5, 0])
    np.testing.assert_allclose(cites[4], [1, 0, 0, 0, 0])
    published = block(layout, x, "bag:published")
    np.testing.assert_allclose(published.sum(1), [1, 1, 1, 0, 0], rtol=1e-6)  # no venue: all-zero row
    np.testing.assert_allclose(block(layout, x, "mean:paper")[0], (PAPER_FEATS[1] + 2 * PAPER_FEATS[4]) / 3, rtol=1e-6)
    np.testing.assert_allclose(block(layout, x, "mean:author")[0], AUTHOR_FEATS[:2].mean(0))
    np.testing.assert_array_equal(block(layout, x, "mean:author")[4], 0)  # paper 4 has no author


def test_hidden_nodes_are_ignored_by_others_but_keep_their_own_edges():
    data = papers(PAPER_FEATS)
    layout = input_layout(data, "own+neighbours")
    full = dense_rows(build_inputs(data, layout))
    hidden = torch.tensor([2])
    x = build_inputs(data, layout, hidden=hidden)
    rows = dense_rows(x)
    cites, mean = block(layout, x, "bag:cites"), block(layout, x, "mean:paper")
    np.testing.assert_allclose(cites[1], [1, 0, 0, 0, 0])  # 1's neighbours 0 and (hidden) 2 -> 0 only
    np.testing.assert_allclose(cites[3], [0, 0, 0, 1, 0])  # 3's neighbours (hidden) 2 and itself -> itself
    np.testing.assert_allclose(mean[1], PAPER_FEATS[0])
    np.testing.assert_array_equal(rows[2], full[2])  # the hidden node uses all its edges
    # the other rows are exactly those of the graph without the hidden node's edges (inductive.observed_graph)
    src, dst = data.graph.edges(etype="cites")
    touching = torch.nonzero((src == 2) | (dst == 2)).squeeze(1)
    observed = build_graph_data_without(data, touching)
    others = [0, 1, 3, 4]
    np.testing.assert_array_equal(rows[others], dense_rows(build_inputs(observed, layout))[others])


def build_graph_data_without(data, cites_edges):
    return dataclasses.replace(data, graph=dgl.remove_edges(data.graph, cites_edges, etype="cites"))


def graph_edges(data, layout, nodes: list[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Each node's edges as derive_inputs takes them: (relation, row in `nodes`, neighbour id)."""
    position = {v: i for i, v in enumerate(nodes)}
    out = []
    for src_type, rel, dst_type in data.graph.canonical_etypes:
        if rel not in layout.relations():
            continue
        src, dst = (t.numpy() for t in data.graph.edges(etype=rel))
        for s, d in zip(src, dst):
            if dst_type == data.target_type and d in position:
                out.append((rel, np.array([position[d]]), np.array([s])))
            if src_type == data.target_type and s in position and not (dst_type == src_type and s == d):
                out.append((rel, np.array([position[s]]), np.array([d])))
    return out


@pytest.mark.parametrize("graph", ["tiny", "papers", "featureless"])
def test_derive_inputs_gives_the_rows_build_inputs_gives(graph, tiny):
    data = {"tiny": tiny, "papers": papers(PAPER_FEATS), "featureless": papers(None)}[graph]
    layout = input_layout(data, "own+neighbours")
    built = dense_rows(build_inputs(data, layout))
    nodes = [4, 0, 1] if graph != "tiny" else [5, 0, 3, 2]  # no node with a self-loop (a new node cannot have one)
    own = data.target_features().numpy()[nodes] if layout.own_dim else None
    neighbour = {m.node_type: data.features[m.node_type] for m in layout.means}
    derived = derive_inputs(layout, own, graph_edges(data, layout, nodes), neighbour, num_rows=len(nodes))
    assert derived.shape == (len(nodes), layout.width) and derived.is_sparse
    np.testing.assert_array_equal(dense_rows(derived), built[nodes])


def test_derive_inputs_for_a_node_without_edges_and_errors(tiny):
    layout = input_layout(tiny, "own+neighbours")
    neighbour = {"paper": tiny.features["paper"]}
    own = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    x = dense_rows(derive_inputs(layout, own, [("paper_author", np.array([0]), np.array([2]))], neighbour))
    np.testing.assert_array_equal(x[1], [4, 5, 6] + [0] * 9)  # row 1 has no edges: zero neighbour blocks
    np.testing.assert_array_equal(x[0, 8:], [0, 0, 1, 0])
    with pytest.raises(ValueError, match="'paper_venue' is not in the student's input layout"):
        derive_inputs(layout, own, [("paper_venue", np.array([0]), np.array([0]))], neighbour)
    with pytest.raises(ValueError, match=r"'paper_author', row 1: neighbour id 4 is out of range"):
        derive_inputs(layout, own, [("paper_author", np.array([0, 1]), np.array([0, 4]))], neighbour)
    with pytest.raises(ValueError, match=r"'paper_author': row 2 is not a new node"):
        derive_inputs(layout, own, [("paper_author", np.array([2]), np.array([0]))], neighbour)
    with pytest.raises(ValueError, match="own features .* width 3"):
        derive_inputs(layout, own[:, :2], [], neighbour)
    featureless = input_layout(papers(None), "own+neighbours")
    x = derive_inputs(featureless, None, [], {"author": torch.from_numpy(AUTHOR_FEATS)}, num_rows=2)
    assert x.shape == (2, featureless.width) and x.to_dense().abs().sum() == 0


def test_mlp_trains_on_sparse_inputs():
    data = papers(None)
    layout = input_layout(data, "own+neighbours")
    x = build_inputs(data, layout)
    torch.manual_seed(0)
    model = MLP(layout.width, 2, hidden_dim=16, num_layers=2, dropout=0.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    labels = data.labels
    losses = []
    for _ in range(20):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    torch.testing.assert_close(model(x), model(x.to_dense()))


def test_node_edges_give_existing_nodes_the_rows_build_inputs_gives_them(tiny):
    layout = input_layout(tiny, "own+neighbours")
    index, features = NodeEdges(tiny.graph, layout), mean_features(layout, tiny.features)  # built once, reused
    existing = ExistingNodeInputs(layout, tiny.graph, tiny.target_features(), tiny.features)
    for nodes in (np.array([4, 0, 5]), np.array([2]), np.array([1, 1, 3])):  # a node twice: both rows get its edges
        own = tiny.target_features()[nodes].numpy()
        expected = build_inputs(tiny, layout).to_dense()[torch.from_numpy(nodes)].numpy()
        derived = derive_inputs(layout, own, index(nodes), features, num_rows=len(nodes))
        np.testing.assert_array_equal(derived.to_dense().numpy(), expected)
        np.testing.assert_array_equal(existing(torch.from_numpy(nodes)).to_dense().numpy(), expected)


def test_a_capped_bag_keeps_the_most_connected_neighbours_and_new_nodes_get_the_same_rows():
    data = papers(PAPER_FEATS)
    layout = input_layout(data, "own+neighbours", max_bag_ids=2)
    bags = {b.relation: b for b in layout.bags}
    # cites, taken undirected (the self-loop once): paper 0 has 3 edges, papers 1-4 two each -> 0 and then 1
    assert bags["cites"].kept_ids == [0, 1] and bags["cites"].width == 2 and bags["cites"].num_nodes == 5
    assert bags["writes"].kept_ids == [1, 2]  # authors 1 and 2 have two papers each, author 0 one
    assert bags["published"].kept_ids is None  # two venues: no cap needed
    assert layout.width == input_layout(data, "own+neighbours").width - 3 - 1
    x = build_inputs(data, layout)
    # paper 0 writes authors 0 and 1: only author 1 has a column, and the bag averages over the kept ones
    np.testing.assert_array_equal(block(layout, x, "bag:writes")[:, :], [[1, 0], [1, 0], [0, 1], [0, 1], [0, 0]])
    nodes = [4, 0, 1]
    own = data.target_features().numpy()[nodes]
    derived = derive_inputs(layout, own, graph_edges(data, layout, nodes), data.features, num_rows=len(nodes))
    np.testing.assert_array_equal(dense_rows(derived), dense_rows(x)[nodes])


def test_prepared_inputs_give_the_plain_forward_and_gradients():
    """Dense columns split from sparse ones (the fast first layer) change nothing but the speed."""
    torch.manual_seed(0)
    n, dense_width, bag_width = 40, 6, 30
    dense = torch.randn(n, dense_width)
    bag = torch.zeros(n, bag_width)
    bag[torch.arange(n), torch.randint(0, bag_width, (n,))] = 1.0
    x = torch.cat([dense[:, :3], bag[:, :10], dense[:, 3:], bag[:, 10:]], dim=1).to_sparse()  # interleaved blocks
    prepared = PreparedInputs.of(x)
    assert isinstance(prepared, PreparedInputs) and prepared.dense_columns.tolist() == [0, 1, 2, 13, 14, 15]
    assert prepared.shape == tuple(x.shape)
    for layers in (2, 3):
        model = MLP(x.shape[1], 3, hidden_dim=8, num_layers=layers, dropout=0.0)
        plain, fast = model(x.to_dense()), run_mlp(model, prepared)
        torch.testing.assert_close(fast, plain)
        torch.testing.assert_close(model(x), plain)  # a sparse input is split on the fly the same way
        torch.testing.assert_close(torch.jit.script(model)(x), plain)  # and so is a served (TorchScript) student's
        plain_grad = torch.autograd.grad(plain.square().sum(), model.body[0].weight)[0]
        fast_grad = torch.autograd.grad(run_mlp(model, prepared).square().sum(), model.body[0].weight)[0]
        torch.testing.assert_close(fast_grad, plain_grad)
        rows = torch.tensor([5, 0, 7])
        torch.testing.assert_close(run_mlp(model, prepared.rows(rows)), model(x.to_dense()[rows]))
        torch.testing.assert_close(run_mlp(model, prepared, embed=True), model.embed(x))
    assert PreparedInputs.of(bag.to_sparse()).is_sparse  # nothing dense: left as it is
    assert not PreparedInputs.of(dense).is_sparse
