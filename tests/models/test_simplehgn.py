import dgl
import pytest
import torch

from hg2m.config import GraphConfig, SimpleHGNConfig
from hg2m.data.graph import build_graph_data
from hg2m.models import teacher_spec
from hg2m.models.attention import edge_softmax_across_relations
from hg2m.models.simplehgn import SimpleHGN, SimpleHGNLayer


def build(snapshot, **config):
    data = build_graph_data(snapshot, GraphConfig())
    model = SimpleHGN(teacher_spec(data, GraphConfig(), {}), SimpleHGNConfig(hidden_dim=4, num_heads=2, **config))
    return data, model


def dense_edge_softmax(graph, scores):
    """Reference: for each destination, a plain softmax over the concatenation of its incoming scores."""
    out = {}
    for t in graph.dsttypes:
        into = [ce for ce in scores if ce[2] == t]
        if not into:
            continue
        s = torch.cat([scores[ce] for ce in into])
        dst = torch.cat([graph.edges(etype=ce)[1] for ce in into])
        exp = s.exp()
        total = torch.zeros(graph.num_dst_nodes(t), *s.shape[1:]).index_add_(0, dst, exp)
        out.update(zip(into, (exp / total[dst]).split([graph.num_edges(ce) for ce in into])))
    return out


def test_forward_shapes_and_backward(tiny_snapshot):
    torch.manual_seed(0)
    data, model = build(tiny_snapshot, num_layers=2)
    out = model(data.graph, data.features)
    assert out.logits.shape == (6, 2)
    assert {t: tuple(h.shape) for t, h in out.embeddings.items()} == {"author": (6, 8), "paper": (4, 8), "venue": (2, 8)}
    torch.nn.functional.cross_entropy(out.logits, data.labels).backward()
    assert model.inputs.project["author"].weight.grad.abs().sum() > 0
    assert model.inputs.project["paper"].weight.grad.abs().sum() > 0
    assert model.inputs.embed["venue"].weight.grad.abs().sum() > 0
    assert model.layers[0].edge_embedding.weight.grad.abs().sum() > 0


def test_edge_softmax_normalises_over_all_relations_even_with_an_empty_one():
    """Author 0 has two 'writes' edges and one 'cites' edge: equal scores give 1/3 each, not 1/2 and 1.
    The empty relation is the case where DGL 2.1's heterograph edge_softmax returns garbage."""
    g = dgl.heterograph(
        {("paper", "writes", "author"): ([0, 1], [0, 0]), ("venue", "cites", "author"): ([0], [0]),
         ("author", "empty", "paper"): ([], [])},
        num_nodes_dict={"author": 1, "paper": 2, "venue": 1},
    )
    alpha = edge_softmax_across_relations(g, {ce: torch.zeros(g.num_edges(ce), 2) for ce in g.canonical_etypes})
    for ce in [("paper", "writes", "author"), ("venue", "cites", "author")]:
        torch.testing.assert_close(alpha[ce], torch.full((g.num_edges(ce), 2), 1 / 3))
    assert alpha[("author", "empty", "paper")].shape == (0, 2)


@pytest.mark.parametrize("on_block", [False, True])
def test_edge_softmax_matches_a_dense_reference_in_value_and_gradient(tiny_snapshot, on_block):
    torch.manual_seed(0)
    graph = build_graph_data(tiny_snapshot, GraphConfig()).graph
    if on_block:
        graph = dgl.dataloading.NeighborSampler([-1]).sample_blocks(graph, {"author": torch.tensor([0, 2])})[2][0]
    scores = {ce: torch.randn(graph.num_edges(ce), 3, requires_grad=True) for ce in graph.canonical_etypes}
    ours, reference = edge_softmax_across_relations(graph, scores), dense_edge_softmax(graph, scores)
    weights = {ce: torch.randn_like(s) for ce, s in scores.items()}
    grads = [torch.autograd.grad(sum((a[ce] * weights[ce]).sum() for ce in a), list(scores.values()), allow_unused=True)
             for a in (ours, reference)]
    for ce in reference:
        torch.testing.assert_close(ours[ce], reference[ce])
    for ours_grad, reference_grad in zip(*grads):
        if reference_grad is not None:
            torch.testing.assert_close(ours_grad, reference_grad)


def test_identical_neighbours_get_uniform_attention():
    """One relation, three identical papers into one author: attention 1/3 each, so the author gets the mean."""
    torch.manual_seed(0)
    etype = ("paper", "writes", "author")
    g = dgl.heterograph({etype: ([0, 1, 2], [0, 0, 0])}, num_nodes_dict={"author": 1, "paper": 3})
    layer = SimpleHGNLayer(5, SimpleHGNConfig(hidden_dim=4, num_heads=2), [etype]).eval()
    h = {"author": torch.randn(1, 5), "paper": torch.randn(1, 5).repeat(3, 1)}
    out, attention = layer(g, h)
    torch.testing.assert_close(attention[etype][1], torch.full((3, 2), 1 / 3))
    torch.testing.assert_close(out["author"], layer.fc(h["paper"][:1]) + layer.residual(h["author"]))


@pytest.mark.parametrize("num_layers,edge_residual", [(2, 0.0), (2, 0.5), (3, 0.5)])
def test_sampled_blocks_with_all_neighbours_match_full_batch(tiny_snapshot, num_layers, edge_residual):
    torch.manual_seed(0)
    data, model = build(tiny_snapshot, num_layers=num_layers, edge_residual=edge_residual, attn_dropout=0.3)
    model.eval()
    full = model(data.graph, data.features)
    sampler = dgl.dataloading.NeighborSampler([-1] * num_layers)
    _, output_nodes, blocks = sampler.sample_blocks(data.graph, {"author": torch.tensor([4, 0, 3])})
    sampled = model(blocks, data.features, blocks[0].srcdata[dgl.NID])
    ids = output_nodes["author"]
    torch.testing.assert_close(sampled.logits, full.logits[ids], atol=1e-5, rtol=0)
    torch.testing.assert_close(sampled.embeddings["author"], full.embeddings["author"][ids], atol=1e-5, rtol=0)


def test_edge_residual_is_used_and_survives_mini_batches(tiny_snapshot):
    """The edge residual changes the output, and a DataLoader over all targets reproduces full batch with it."""
    torch.manual_seed(0)
    data, model = build(tiny_snapshot, num_layers=2, edge_residual=0.5)
    model.eval()
    full = model(data.graph, data.features).logits
    model.layers[1].beta = 0.0
    assert not torch.allclose(full, model(data.graph, data.features).logits)
    model.layers[1].beta = 0.5
    loader = dgl.dataloading.DataLoader(data.graph, {"author": torch.arange(6)}, dgl.dataloading.NeighborSampler([-1, -1]),
                                        batch_size=4, shuffle=True)
    for input_nodes, output_nodes, blocks in loader:
        logits = model(blocks, data.features, input_nodes).logits
        torch.testing.assert_close(logits, full[output_nodes["author"]], atol=1e-5, rtol=0)
