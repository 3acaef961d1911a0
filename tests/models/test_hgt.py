import dgl
import pytest
import torch

from hg2m.config import GraphConfig, HGTConfig
from hg2m.data.graph import build_graph_data
from hg2m.models import teacher_spec
from hg2m.models.hgt import HGT, HGTLayer


def build(snapshot, layer_norm=True, **config):
    data = build_graph_data(snapshot, GraphConfig())
    spec = teacher_spec(data, GraphConfig(), {})
    return data, HGT(spec, HGTConfig(hidden_dim=4, num_heads=2, **config), layer_norm=layer_norm)


def incoming_attention_sums(graph, attention):
    """Destination type -> per-node sum of the attention on all its incoming edges, over every relation."""
    sums = {}
    for ce, a in attention.items():
        total = sums.setdefault(ce[2], torch.zeros(graph.num_dst_nodes(ce[2]), a.shape[1]))
        total.index_add_(0, graph.edges(etype=ce)[1], a)
    return sums


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
    assert model.layers[0].relation_att.grad.abs().sum() > 0
    assert model.layers[0].relation_prior.grad.abs().sum() > 0


def test_attention_into_each_node_sums_to_one_across_relations(tiny_snapshot):
    """Papers receive from authors and venues: the weights sum to 1 over both relations together."""
    torch.manual_seed(0)
    data = build_graph_data(tiny_snapshot, GraphConfig())
    layer = HGTLayer(2, 4, data.graph.ntypes, data.graph.canonical_etypes, dropout=0.0)
    h = {t: torch.randn(data.graph.num_nodes(t), 8) for t in data.graph.ntypes}
    _, attention = layer(data.graph, h)
    for node_type, total in incoming_attention_sums(data.graph, attention).items():
        torch.testing.assert_close(total, torch.ones_like(total), msg=node_type)
    by_relation = incoming_attention_sums(data.graph, {ce: a for ce, a in attention.items() if ce[1] == "rev_paper_author"})
    assert (by_relation["paper"] < 1 - 1e-4).all()  # each paper also has a venue, so authors get less than 1


def test_identical_neighbours_get_uniform_attention_and_types_without_inputs_are_kept():
    """One relation, three identical papers into one author: 1/3 each, so the message is one paper's.
    Venues send to papers but receive nothing: they keep their representation."""
    torch.manual_seed(0)
    writes, hosts = ("paper", "writes", "author"), ("venue", "hosts", "paper")
    g = dgl.heterograph({writes: ([0, 1, 2], [0, 0, 0]), hosts: ([0], [1])},
                        num_nodes_dict={"author": 1, "paper": 3, "venue": 2})
    layer = HGTLayer(2, 4, g.ntypes, g.canonical_etypes, dropout=0.0, layer_norm=False).eval()
    h = {"author": torch.randn(1, 8), "paper": torch.randn(1, 8).repeat(3, 1), "venue": torch.randn(2, 8)}
    out, attention = layer(g, h)
    torch.testing.assert_close(attention[writes], torch.full((3, 2), 1 / 3))
    r = layer.etype_index[writes]
    message = torch.einsum("nhd,hde->nhe", layer.value["paper"](h["paper"][:1]).view(1, 2, 4), layer.relation_msg[r])
    torch.testing.assert_close(out["author"], layer.update("author", message.flatten(1), h["author"]))
    torch.testing.assert_close(out["venue"], h["venue"])


@pytest.mark.parametrize("num_layers,layer_norm", [(2, True), (2, False), (3, True)])
def test_sampled_blocks_with_all_neighbours_match_full_batch(tiny_snapshot, num_layers, layer_norm):
    torch.manual_seed(0)
    data, model = build(tiny_snapshot, layer_norm, num_layers=num_layers)
    model.eval()
    full = model(data.graph, data.features)
    sampler = dgl.dataloading.NeighborSampler([-1] * num_layers)
    _, output_nodes, blocks = sampler.sample_blocks(data.graph, {"author": torch.tensor([4, 0, 3])})
    sampled = model(blocks, data.features, blocks[0].srcdata[dgl.NID])
    ids = output_nodes["author"]
    torch.testing.assert_close(sampled.logits, full.logits[ids], atol=1e-5, rtol=0)
    torch.testing.assert_close(sampled.embeddings["author"], full.embeddings["author"][ids], atol=1e-5, rtol=0)


def test_mini_batches_from_a_data_loader_reproduce_full_batch(tiny_snapshot):
    torch.manual_seed(0)
    data, model = build(tiny_snapshot, num_layers=2)
    model.eval()
    full = model(data.graph, data.features).logits
    loader = dgl.dataloading.DataLoader(data.graph, {"author": torch.arange(6)}, dgl.dataloading.NeighborSampler([-1, -1]),
                                        batch_size=4, shuffle=True)
    for input_nodes, output_nodes, blocks in loader:
        logits = model(blocks, data.features, input_nodes).logits
        torch.testing.assert_close(logits, full[output_nodes["author"]], atol=1e-5, rtol=0)
