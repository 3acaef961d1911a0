"""The shared teacher contract, checked for every registered teacher on the tiny graph."""

from typing import get_type_hints

import dgl
import pytest
import torch

from hg2m.config import TEACHER_NAMES, GraphConfig, MetaPath, RGCNConfig, SamplingConfig, TeacherConfig, teacher_config
from hg2m.data.graph import build_graph_data
from hg2m.models import TEACHERS, build_teacher
from hg2m.models.base import ids_by_type
from hg2m.teacher import full_neighbourhood, sampled_inference, train_teacher

METAPATHS = {"APA": MetaPath(node_types=["author", "paper", "author"]),
             "APVPA": MetaPath(node_types=["author", "paper", "venue", "paper", "author"])}
SMALL = {"rgcn": {}, "han": {"num_heads": 2}, "simplehgn": {"num_heads": 2, "edge_dim": 4}, "hgt": {"num_heads": 2}}


def small_config(name: str, **extra) -> TeacherConfig:
    return teacher_config({"model": name, "hidden_dim": 8, "dropout": 0.0, **SMALL[name], **extra})


def test_every_teacher_name_has_a_model_that_takes_its_config_class():
    assert tuple(TEACHERS) == TEACHER_NAMES
    for name in TEACHER_NAMES:
        assert get_type_hints(TEACHERS[name].__init__)["config"] is type(small_config(name))


@pytest.fixture
def data(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig(featureless_embedding_dim=4))


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_forward_shapes_and_backward(name, data):
    torch.manual_seed(0)
    model = build_teacher(small_config(name), data, GraphConfig(featureless_embedding_dim=4), METAPATHS)
    out = model(model.graph_view(data.graph), data.features)
    assert out.logits.shape == (6, 2)
    assert out.embeddings["author"].shape[0] == 6
    torch.nn.functional.cross_entropy(out.logits, data.labels).backward()
    assert model.inputs.project["author"].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_sampled_blocks_with_every_neighbour_give_the_full_batch_logits(name, data):
    """Neighbour sampling with fanout -1 (all neighbours) must reproduce whole-graph inference exactly.
    HAN's semantic attention averages over the batch, so it is checked with every target node as seed."""
    torch.manual_seed(0)
    model = build_teacher(small_config(name), data, GraphConfig(featureless_embedding_dim=4), METAPATHS).eval()
    view = model.graph_view(data.graph)
    seeds = torch.arange(6) if name == "han" else torch.tensor([4, 0, 3])
    sampler = dgl.dataloading.NeighborSampler([-1] * model.num_layers)
    input_nodes, output_nodes, blocks = sampler.sample_blocks(view, {"author": seeds})
    input_nodes, output_nodes = ids_by_type(input_nodes, view), ids_by_type(output_nodes, view)
    with torch.no_grad():
        full = model(view, data.features).logits
        sampled = model(blocks, data.features, input_nodes).logits
    torch.testing.assert_close(sampled, full[output_nodes["author"]], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_training_on_sampled_mini_batches(name, data):
    config = small_config(name, sampling=SamplingConfig(enabled=True, fanouts=[2, 2], batch_size=1),
                          optim={"max_epochs": 3, "patience": 3})
    history = []
    trained = train_teacher(data, config, GraphConfig(featureless_embedding_dim=4), seed=0,
                            device=torch.device("cpu"), on_epoch=lambda e, r: history.append(r), metapaths=METAPATHS)
    assert len(history) == 3 and all(r["loss"] > 0 for r in history)
    assert trained.logits.shape == (6, 2) and torch.isfinite(trained.logits).all()


def test_fanouts_must_match_the_layers():
    with pytest.raises(ValueError, match="one fanout per layer"):
        RGCNConfig(num_layers=2, sampling=SamplingConfig(enabled=True, fanouts=[5]))


@pytest.mark.parametrize("name", ["rgcn", "hgt", "simplehgn"])
def test_batched_sampled_inference_keeps_the_order_of_the_nodes(name, data):
    """Batches smaller than the node list, nodes out of order, all neighbours: the full-graph logits, row for row."""
    torch.manual_seed(0)
    model = build_teacher(small_config(name), data, GraphConfig(featureless_embedding_dim=4), METAPATHS).eval()
    view = model.graph_view(data.graph)
    nodes = torch.tensor([5, 1, 4, 0, 2])
    with torch.no_grad():
        full = model(view, data.features).logits
    batched = sampled_inference(model, view, data.features, nodes, [-1, -1], batch_size=2)
    torch.testing.assert_close(batched, full[nodes], atol=1e-5, rtol=1e-5)


def test_inference_fanouts_must_match_the_layers_too():
    with pytest.raises(ValueError, match="inference_fanouts has 3 entries"):
        RGCNConfig(num_layers=2, sampling=SamplingConfig(enabled=True, inference_fanouts=[5, 5, 5]))
    assert SamplingConfig(fanouts=[3, 4]).predict_fanouts == [3, 4]
    assert SamplingConfig(fanouts=[3, 4], inference_fanouts=[-1, -1]).predict_fanouts == [-1, -1]


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_full_neighbourhood_blocks_are_the_same_every_time_and_give_the_full_batch_logits(name, data):
    """What full-batch training runs on: built twice, the same nodes and edges in the same order (DGL's own
    to_block orders them differently each call), and the whole graph's logits for the seeds."""
    torch.manual_seed(0)
    model = build_teacher(small_config(name), data, GraphConfig(featureless_embedding_dim=4), METAPATHS).eval()
    view = model.graph_view(data.graph)
    seeds = torch.arange(6) if name == "han" else torch.tensor([4, 0, 3])  # HAN: attention averages over seeds
    (ids, blocks), (ids_again, blocks_again) = (full_neighbourhood(view, "author", seeds, model.num_layers)
                                                for _ in range(2))
    assert all(torch.equal(ids[t], ids_again[t]) for t in ids)
    for block, again in zip(blocks, blocks_again, strict=True):
        for ce in block.canonical_etypes:
            assert torch.equal(torch.stack(block.edges(etype=ce)), torch.stack(again.edges(etype=ce)))
    with torch.no_grad():
        full = model(view, data.features).logits
        local = model(blocks, data.features, ids).logits
    torch.testing.assert_close(local, full[seeds], atol=1e-5, rtol=1e-5)
