"""The Optuna search of a student's knobs: which knobs, how values reach the config, pruning, validation only."""

import dataclasses

import optuna
import pytest
import torch
from conftest import make_tiny_snapshot

from hg2m.config import GraphConfig, OptimConfig, StudentConfig, TuningConfig
from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.facts import snapshot_facts
from hg2m.data.graph import build_graph_data
from hg2m.distill.signals import build_signals
from hg2m.plan import Run, student_plan
from hg2m.student import train_student
from hg2m.train import fit
from hg2m.tuning import study_summary, suggest, tune_student, tuned_plan

TINY = snapshot_facts(make_tiny_snapshot(), "tiny")


def plan_of(method: str, **fields):
    config = StudentConfig(name="s", method=method, hidden_dim=8, optim=OptimConfig(max_epochs=20, patience=5),
                           **fields)
    return student_plan(config, "tiny", ["APA"], TINY, reliable_ratio=0.9)


@pytest.mark.parametrize(("method", "fields", "knobs"), [
    ("mlp", {}, set()),
    ("hg2m", {}, {"lambda_ce", "temperature"}),
    ("hg2m_plus", {"gamma": 0.5}, {"lambda_ce", "temperature", "reliable_ratio", "gamma"}),
    ("hg2m_plus", {"gamma": 0.0}, {"lambda_ce", "temperature", "reliable_ratio"}),  # the no-meta-path ablation
    ("hg2m_plus", {"gamma": 0.5, "reliable_nodes": False}, {"lambda_ce", "temperature", "gamma"}),
    ("hire", {}, {"lambda_ce", "temperature", "hire_beta"}),
])
def test_a_student_searches_only_the_knobs_its_plan_uses(method, fields, knobs):
    trial = optuna.trial.FixedTrial({"lr": 0.01, "weight_decay": 1e-4, "dropout": 0.1, "early_stopping": False,
                                     "lambda_ce": 0.3, "temperature": 2.0, "reliable_ratio": 0.7, "gamma": 1.5,
                                     "hire_beta": 0.5})
    values = suggest(trial, plan_of(method, **fields))
    assert set(values) == {"lr", "weight_decay", "dropout", "early_stopping"} | knobs


def test_tuned_values_reach_the_student_config_and_its_reliable_ratio():
    plan = plan_of("hg2m_plus", gamma=0.5)
    tuned = tuned_plan(plan, {"lr": 0.02, "early_stopping": False, "dropout": 0.3, "reliable_ratio": 0.6,
                              "gamma": 1.2}, max_epochs=7)
    config = tuned.config
    assert (config.optim.lr, config.optim.early_stopping, config.dropout, config.gamma) == (0.02, False, 0.3, 1.2)
    assert config.optim.max_epochs == 7 and tuned.reliable_ratio == 0.6 and plan.reliable_ratio == 0.9
    assert tuned.metapaths == plan.metapaths and tuned.config.name == "s"


def test_a_trial_below_the_median_is_pruned():
    curves = iter([[0.9] * 10, [0.1] * 10, [0.95] * 10])  # trials 0, 1, 2: the second is pruned at its first epoch

    def train(plan, on_epoch):
        curve = next(curves)
        for epoch, value in enumerate(curve, 1):
            on_epoch(epoch, {"best_val_micro_f1": value})
        return curve[-1]

    study = tune_student(plan_of("mlp"), TuningConfig(trials=3, startup_trials=1, warmup_epochs=0), train)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                      optuna.trial.TrialState.COMPLETE]
    assert study.best_value == 0.95 and study_summary(study)["trials"] == {"complete": 2, "pruned": 1}


def test_tuning_reads_validation_only(tiny_snapshot):
    """The same search on the same graph with every test label changed finds the same values and scores."""
    data = build_graph_data(tiny_snapshot, GraphConfig())
    split = RunSplit(run=Run(setting="transductive", seed=0), num_nodes=6, hidden=[])
    teacher = TeacherRun(logits=torch.randn(6, 2, generator=torch.Generator().manual_seed(0)))

    def search(graph):
        def train(plan, on_epoch):
            signals = build_signals(graph, graph.target_features(), plan, split, teacher)
            return train_student(graph, graph.target_features(), signals, plan, 0, torch.device("cpu"),
                                 on_epoch).fit.best_val_micro_f1

        study = tune_student(plan_of("hg2m"), TuningConfig(trials=3, startup_trials=3), train)
        return [(t.params, t.value) for t in study.trials]

    test = data.splits["test"]
    flipped = data.labels.clone()
    flipped[test] = 1 - flipped[test]
    assert search(data) == search(dataclasses.replace(data, labels=flipped))


def test_without_early_stopping_every_epoch_runs_and_the_best_is_kept():
    model = torch.nn.Linear(1, 1)
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])

    def loss():
        return model(torch.ones(1, 1)).sum()

    result = fit(model, loss, lambda: next(scores), OptimConfig(max_epochs=6, patience=2, early_stopping=False))
    assert result.epochs_run == 6 and result.best_epoch == 2
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    assert fit(model, loss, lambda: next(scores), OptimConfig(max_epochs=6, patience=2)).epochs_run == 4
