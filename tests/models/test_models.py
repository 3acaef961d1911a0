import torch

from hg2m.config import GraphConfig, RGCNConfig
from hg2m.data.graph import build_graph_data
from hg2m.models import build_teacher
from hg2m.models.inputs import SparseAwareLinear
from hg2m.models.mlp import MLP


def test_rgcn_forward_shapes_and_backward(tiny_snapshot):
    torch.manual_seed(0)
    data = build_graph_data(tiny_snapshot, GraphConfig(featureless_embedding_dim=4))
    config = RGCNConfig(hidden_dim=8, num_layers=2, self_loop=True)
    model = build_teacher(config, data, GraphConfig(featureless_embedding_dim=4))
    out = model(model.graph_view(data.graph), data.features)
    assert out.logits.shape == (6, 2)
    assert {t: tuple(h.shape) for t, h in out.embeddings.items()} == {"author": (6, 8), "paper": (4, 8), "venue": (2, 8)}
    torch.nn.functional.cross_entropy(out.logits, data.labels).backward()
    # with the self-connection every input path gets a gradient: dense and sparse projections, venue embedding
    assert model.inputs.project["author"].weight.grad.abs().sum() > 0
    assert model.inputs.project["paper"].weight.grad.abs().sum() > 0
    assert model.inputs.embed["venue"].weight.grad.abs().sum() > 0


def test_rgcn_messages_follow_meta_path_a_p_a(tiny_snapshot):
    """Author 1 shares paper 0 with author 0 but no paper with author 2: changing author 1's
    features changes author 0's logits (A-P-A), not author 2's."""
    torch.manual_seed(0)
    data = build_graph_data(tiny_snapshot, GraphConfig())
    model = build_teacher(RGCNConfig(hidden_dim=8, dropout=0.0), data, GraphConfig()).eval()
    before = model(model.graph_view(data.graph), data.features).logits
    features = dict(data.features)
    features["author"] = data.features["author"].clone()
    features["author"][1] += 5.0
    after = model(model.graph_view(data.graph), features).logits
    assert not torch.allclose(before[0], after[0])
    torch.testing.assert_close(before[2], after[2])


def test_sparse_aware_linear_matches_dense():
    torch.manual_seed(0)
    layer = SparseAwareLinear(5, 3)
    x = torch.tensor([[0.0, 2.0, 0.0, 0.0, 1.0], [3.0, 0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(layer(x.to_sparse()), layer(x))


def test_mlp_shapes_layers_and_backward():
    torch.manual_seed(0)
    model = MLP(in_dim=7, num_classes=3, hidden_dim=16, num_layers=3, dropout=0.1, norm="layer")
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3
    x = torch.randn(10, 7)
    logits = model(x)
    assert logits.shape == (10, 3) and model.embed(x).shape == (10, 16)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_single_layer_mlp_is_linear():
    model = MLP(in_dim=4, num_classes=2, num_layers=1)
    assert len(model.body) == 0 and model.classifier.in_features == 4


def test_rgcn_without_self_loop_reaches_target_along_two_hop_paths_only(tiny_snapshot):
    """The reference RGCN (no W_0): 2-layer author logits see A-P-A and V-P-A paths, not paper inputs."""
    torch.manual_seed(0)
    data = build_graph_data(tiny_snapshot, GraphConfig())
    model = build_teacher(RGCNConfig(hidden_dim=8, self_loop=False), data, GraphConfig())
    model(model.graph_view(data.graph), data.features).logits.sum().backward()
    assert model.inputs.project["author"].weight.grad.abs().sum() > 0
    assert model.inputs.embed["venue"].weight.grad.abs().sum() > 0
    assert model.inputs.project["paper"].weight.grad is None


def test_mlp_takes_sparse_input_and_scripts():
    torch.manual_seed(0)
    for num_layers in (1, 2, 3):
        model = MLP(in_dim=6, num_classes=3, hidden_dim=8, num_layers=num_layers, dropout=0.0).eval()
        x = torch.zeros(4, 6)
        x[0, 1], x[1, 5], x[3, 0] = 0.5, 2.0, 1.0
        dense = model(x)
        torch.testing.assert_close(model(x.to_sparse()), dense)
        scripted = torch.jit.script(model)
        torch.testing.assert_close(scripted(x), dense)
        torch.testing.assert_close(scripted(x.to_sparse()), dense)
    model = MLP(in_dim=6, num_classes=3, hidden_dim=8, num_layers=2)
    model(torch.eye(6)[:3].to_sparse()).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mlp_first_layer_is_sparse_aware_with_unchanged_parameters():
    """The first linear layer (the classifier when num_layers == 1) is a SparseAwareLinear; the parameter
    names and seeded values are those of plain nn.Linear layers."""
    for num_layers in (1, 2):
        torch.manual_seed(0)
        model = MLP(in_dim=5, num_classes=2, hidden_dim=4, num_layers=num_layers)
        first = model.classifier if num_layers == 1 else model.body[0]
        assert isinstance(first, SparseAwareLinear)
        torch.manual_seed(0)
        plain = torch.nn.Linear(5, 4 if num_layers == 2 else 2)
        torch.testing.assert_close(first.weight, plain.weight, rtol=0, atol=0)
    assert list(dict(MLP(5, 2, 4, num_layers=2).named_parameters())) == [
        "body.0.weight", "body.0.bias", "classifier.weight", "classifier.bias"]
