"""Students trained data-parallel (PyTorch DDP, 2 processes on this host): every rank takes its slice of each batch
and DDP adds up their gradients, so the trained student must be the single process's, weight for weight; a killed
rank must fail the job with a clear error and leave no process behind."""

import tempfile

import pytest
import torch
from conftest import generated_snapshot, worker_processes

from hg2m.config import GraphConfig, OptimConfig, StudentConfig, SyntheticGraphConfig
from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.facts import snapshot_facts
from hg2m.data.graph import build_graph_data
from hg2m.distill.signals import build_signals
from hg2m.distributed.cluster import DistributedError
from hg2m.distributed.students import train_student_data_parallel
from hg2m.plan import Run, student_plan
from hg2m.student import train_student

SMALL = SyntheticGraphConfig(num_papers=400, num_classes=3, train=80, val=60, test=100, paper_feature_dim=8,
                             side_feature_dim=4)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    snapshot = generated_snapshot(SMALL, tmp_path_factory.mktemp("synthetic") / "igb-small")
    return build_graph_data(snapshot, GraphConfig()), snapshot_facts(snapshot, "igb-small")


def student_job(graph, method: str, **config):
    data, facts = graph
    config = StudentConfig(name=method, method=method, hidden_dim=16, dropout=0.0, **config)  # no dropout: exact
    plan = student_plan(config, "igb-small", [], facts)
    teacher = TeacherRun(logits=torch.randn(data.num_target_nodes, data.num_classes,
                                            generator=torch.Generator().manual_seed(0)))
    split = RunSplit(run=Run(setting="transductive", seed=0), num_nodes=data.num_target_nodes, hidden=[])
    inputs = data.target_features()
    return data, inputs, build_signals(data, inputs, plan, split, teacher=teacher if plan.soft_labels else None), plan


@pytest.mark.parametrize(("method", "batching"), [("hg2m", {"batch_size": 64}), ("mlp", {})],
                         ids=["hg2m-mini-batches", "mlp-full-batch"])
def test_two_ranks_train_the_single_process_student(graph, method, batching):
    # weight decay: Adam's steps are nearly blind to the gradients' scale, except beside the decay term, so that
    # ranks averaging their gradients instead of adding them up would show
    optim = OptimConfig(max_epochs=4, early_stopping=False, weight_decay=0.05)
    data, inputs, signals, plan = student_job(graph, method, optim=optim, **batching)
    epochs = []
    parallel, peak_mib = train_student_data_parallel(data, inputs, signals, plan, seed=3, device=torch.device("cpu"),
                                                     num_ranks=2, on_epoch=lambda epoch, record: epochs.append(epoch))
    single = train_student(data, inputs, signals, plan, seed=3, device=torch.device("cpu"))
    assert epochs == [1, 2, 3, 4] and sorted(peak_mib) == ["rank0", "rank1"]
    for (name, weight), expected in zip(parallel.model.state_dict().items(), single.model.state_dict().values()):
        assert torch.allclose(weight, expected, atol=1e-5), name
    assert torch.allclose(parallel.logits, single.logits, atol=1e-4)
    assert [r["val_micro_f1"] for r in parallel.fit.history] == [r["val_micro_f1"] for r in single.fit.history]
    assert worker_processes() == []


def test_a_killed_rank_fails_the_job_and_leaves_no_process_behind(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the failed job's folder (kept for its logs) goes here
    data, inputs, signals, plan = student_job(graph, "hg2m", batch_size=16,
                                              optim=OptimConfig(max_epochs=100_000, early_stopping=False))

    def kill_rank_one(epoch, record):
        if epoch == 1:
            next(p for p in worker_processes() if p.environ().get("RANK") == "1").kill()

    with pytest.raises(DistributedError, match=r"distributed rank1 exited with code -9 .*every other process"):
        train_student_data_parallel(data, inputs, signals, plan, seed=0, device=torch.device("cpu"), num_ranks=2,
                                    on_epoch=kill_rank_one)
    assert worker_processes() == []
