"""The inductive setting: held-out nodes never reach a student's or a teacher's training signal."""

import pytest
import torch
from conftest import make_tiny_snapshot

from hg2m.config import GraphConfig, OptimConfig, RGCNConfig, StudentConfig
from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.facts import snapshot_facts
from hg2m.data.graph import build_graph_data
from hg2m.distill.signals import build_signals
from hg2m.inductive import (
    evaluation_parts,
    model_selection_nodes,
    observed_graph,
    observed_validation,
    split_run,
)
from hg2m.models import build_teacher
from hg2m.plan import Run, student_plan
from hg2m.student import train_student

INDUCTIVE_0 = Run(setting="inductive", seed=0)


@pytest.fixture
def data(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig())


def held_out(*ids: int) -> RunSplit:
    return RunSplit(run=INDUCTIVE_0, num_nodes=6, hidden=list(ids))


def test_held_out_nodes_are_a_seeded_share_of_test_and_of_val(data):
    assert split_run(data, Run(setting="transductive", seed=0), 0.5).hidden == []
    split = split_run(data, INDUCTIVE_0, 0.5)  # tiny graph: val = {2, 3}, test = {4, 5}
    hidden = set(split.hidden)
    assert len(hidden & {4, 5}) == 1 and len(hidden & {2, 3}) == 1 and len(hidden) == 2
    assert len(split_run(data, INDUCTIVE_0, 0.01).hidden) == 1  # at least one val node; round(0.02) test nodes
    assert split_run(data, INDUCTIVE_0, 0.5) == split
    assert split.observed().tolist() == [i not in split.hidden for i in range(6)]
    with pytest.raises(ValueError, match="setting"):
        Run(setting="semi", seed=0)


def test_observed_graph_drops_every_edge_of_hidden_nodes_only(data):
    seen = observed_graph(data, held_out(4))  # author 4 writes paper 2 only (tiny graph)
    for etype in seen.graph.canonical_etypes:
        src, dst = seen.graph.edges(etype=etype)
        ends = ([src] if etype[0] == "author" else []) + ([dst] if etype[2] == "author" else [])
        assert all(4 not in end.tolist() for end in ends)
    removed = data.graph.num_edges() - seen.graph.num_edges()
    assert removed == 2  # paper 2 -> author 4 and its reverse
    assert seen.graph.num_nodes("author") == 6  # ids stay aligned


def test_evaluation_parts_split_val_and_test(data):
    parts = evaluation_parts(data, held_out(3, 5))
    assert parts["test_observed"].tolist() == [4] and parts["test_held_out"].tolist() == [5]
    assert parts["val_observed"].tolist() == [2] and parts["val_held_out"].tolist() == [3]
    assert set(evaluation_parts(data, held_out())) == {"val", "test"}


def test_students_choose_epochs_on_held_out_val_and_teachers_on_observed_val(data):
    split = held_out(3, 5)
    assert model_selection_nodes(data, split.observed()).tolist() == [3]
    assert model_selection_nodes(data, held_out().observed()).tolist() == [2, 3]  # transductive: all of val
    assert observed_validation(data, split.observed()).splits["val"].tolist() == [2]


def test_teacher_on_observed_graph_ignores_hidden_features(data):
    torch.manual_seed(0)
    split = held_out(4)
    model = build_teacher(RGCNConfig(hidden_dim=8, dropout=0.0), data, GraphConfig()).eval()
    seen = observed_graph(data, split)
    view = model.graph_view(seen.graph)
    before = model(view, seen.features).logits
    poisoned = dict(seen.features)
    poisoned["author"] = seen.features["author"].clone()
    poisoned["author"][4] = 1e3
    after = model(view, poisoned).logits
    keep = split.observed()
    torch.testing.assert_close(before[keep], after[keep])


@pytest.mark.parametrize("batching", [{}, {"batch_size": 2}, {"full_batch_max_nodes": 1}],
                         ids=["full-batch", "mini-batches", "mini-batches-by-size"])
@pytest.mark.parametrize("method", ["hg2m", "hg2m_plus"])
def test_students_never_read_hidden_soft_labels(data, method, batching):
    """Teacher logits of the hidden node are NaN: any use of them would make the loss NaN (in mini-batches too)."""
    import pandas as pd

    teacher = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))  # seeded: which pairs are reliable
    teacher[5] = float("nan")
    reliable = torch.ones(6, dtype=torch.bool)  # even a 'reliable' hidden node must be masked out
    pairs = pd.DataFrame({"metapath": "APA", "node": [0, 0, 3], "neighbour": [1, 5, 4], "count": [1, 1, 1]})
    config = StudentConfig(name="s", method=method, hidden_dim=4, gamma=0.5,
                           optim=OptimConfig(max_epochs=3, patience=3), **batching)
    plan = student_plan(config, "tiny", ["APA"], snapshot_facts(make_tiny_snapshot(), "tiny"))
    signals = build_signals(data, data.target_features(), plan, held_out(5), TeacherRun(logits=teacher),
                            reliable=reliable, pairs=pairs)
    assert not signals.observed[5]
    if method == "hg2m_plus":
        assert not signals.reliable[5]
        src, dst, _ = signals.metapath_edges[0]
        assert len(src) > 0 and 5 not in src.tolist() + dst.tolist()
    trained = train_student(data, data.target_features(), signals, plan, seed=0, device=torch.device("cpu"))
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in trained.fit.history)
