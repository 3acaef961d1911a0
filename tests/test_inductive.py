"""The inductive setting: held-out nodes never reach a student's or a teacher's training signal."""

import pytest
import torch

from hg2m.config import GraphConfig, OptimConfig, StudentConfig, TeacherConfig
from hg2m.data.graph import build_graph_data
from hg2m.distill.signals import build_signals
from hg2m.inductive import evaluation_parts, hidden_nodes, observed_graph, observed_mask
from hg2m.models import build_teacher
from hg2m.student import train_student


@pytest.fixture
def data(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig())


def test_hidden_nodes_are_a_seeded_share_of_test(data):
    assert hidden_nodes(data, "transductive", 0.5, seed=0).tolist() == []
    hidden = hidden_nodes(data, "inductive", 0.5, seed=0)
    assert len(hidden) == 1 and set(hidden.tolist()) <= set(data.splits["test"].tolist())
    assert hidden_nodes(data, "inductive", 0.5, seed=0).tolist() == hidden.tolist()
    with pytest.raises(ValueError, match="unknown setting"):
        hidden_nodes(data, "semi", 0.5, seed=0)


def test_observed_graph_drops_every_edge_of_hidden_nodes_only(data):
    hidden = torch.tensor([4])  # author 4 writes paper 2 only (tiny graph)
    seen = observed_graph(data, hidden)
    for etype in seen.graph.canonical_etypes:
        src, dst = seen.graph.edges(etype=etype)
        ends = ([src] if etype[0] == "author" else []) + ([dst] if etype[2] == "author" else [])
        assert all(4 not in end.tolist() for end in ends)
    removed = data.graph.num_edges() - seen.graph.num_edges()
    assert removed == 2  # paper 2 -> author 4 and its reverse
    assert seen.graph.num_nodes("author") == 6  # ids stay aligned


def test_evaluation_parts_split_test(data):
    parts = evaluation_parts(data, torch.tensor([5]))
    assert parts["test_observed"].tolist() == [4] and parts["test_held_out"].tolist() == [5]
    assert set(evaluation_parts(data, torch.empty(0, dtype=torch.int64))) == {"val", "test"}


def test_teacher_on_observed_graph_ignores_hidden_features(data):
    torch.manual_seed(0)
    hidden = torch.tensor([4])
    model = build_teacher(TeacherConfig(hidden_dim=8, dropout=0.0), data, GraphConfig()).eval()
    seen = observed_graph(data, hidden)
    view = model.graph_view(seen.graph)
    before = model(view, seen.features).logits
    poisoned = dict(seen.features)
    poisoned["author"] = seen.features["author"].clone()
    poisoned["author"][4] = 1e3
    after = model(view, poisoned).logits
    keep = observed_mask(6, hidden)
    torch.testing.assert_close(before[keep], after[keep])


@pytest.mark.parametrize("method", ["hg2m", "hg2m_plus"])
def test_students_never_read_hidden_soft_labels(data, method):
    """Teacher logits of the hidden node are NaN: any use of them would make the loss NaN."""
    import pandas as pd

    hidden = torch.tensor([5])
    teacher = torch.randn(6, 2)
    teacher[5] = float("nan")
    reliable = torch.ones(6, dtype=torch.bool)  # even a 'reliable' hidden node must be masked out
    pairs = pd.DataFrame({"metapath": "APA", "node": [0, 0, 3], "neighbour": [1, 5, 4], "count": [1, 1, 1]})
    config = StudentConfig(name="s", method=method, hidden_dim=4, gamma=0.5, optim=OptimConfig(max_epochs=3, patience=3))
    signals = build_signals(data, config, hidden, ["APA"], teacher_logits=teacher, reliable=reliable, pairs=pairs)
    assert not signals.observed[5]
    if method == "hg2m_plus":
        assert not signals.reliable[5]
        src, dst, _ = signals.metapath_edges[0]
        assert len(src) > 0 and 5 not in src.tolist() + dst.tolist()
    trained = train_student(data, signals, config, seed=0, device=torch.device("cpu"))
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in trained.fit.history)
