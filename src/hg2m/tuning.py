"""Optuna search of a student's knobs on validation, before the student trains on every run.

    study = tune_student(plan, tuning, train)     # train(plan, on_epoch) -> best validation Micro-F1
    tuned = tuned_plan(plan, study.best_params)

Each trial trains the student once, on the tuning run (hg2m.plan), with values drawn by a seeded TPE
sampler; a median pruner stops a trial whose best validation Micro-F1 so far is below the median of the
earlier trials' at the same epoch. Only validation Micro-F1 is read (`train` returns it), never test
labels. Which knobs a student has depends on what its plan distils: a knob that changes nothing (e.g. the
temperature of the plain MLP) is not searched.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

from hg2m.config import TuningConfig
from hg2m.plan import StudentPlan
from hg2m.train import EpochCallback

# the knobs, each as (Optuna name, StudentConfig field or optim.<field>)
KNOB_FIELDS = {
    "lr": "optim.lr", "weight_decay": "optim.weight_decay", "early_stopping": "optim.early_stopping",
    "dropout": "dropout", "lambda_ce": "lambda_ce", "temperature": "temperature",
    "reliable_ratio": "reliable_ratio", "gamma": "gamma", "hire_beta": "hire_beta",
}


def suggest(trial: optuna.Trial, plan: StudentPlan) -> dict[str, object]:
    """One trial's values of the knobs `plan`'s student has."""
    values: dict[str, object] = {
        "lr": trial.suggest_float("lr", 1e-3, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-7, 1e-2, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.7),
        "early_stopping": trial.suggest_categorical("early_stopping", [True, False]),
    }
    if plan.soft_labels:
        values["lambda_ce"] = trial.suggest_float("lambda_ce", 0.0, 1.0)
        values["temperature"] = trial.suggest_float("temperature", 0.5, 4.0, log=True)
    if plan.reliability and plan.config.reliable_nodes:
        values["reliable_ratio"] = trial.suggest_float("reliable_ratio", 0.5, 1.0)
    if plan.metapath_term:
        values["gamma"] = trial.suggest_float("gamma", 0.05, 2.0, log=True)
    if plan.embeddings:
        values["hire_beta"] = trial.suggest_float("hire_beta", 0.05, 2.0, log=True)
    return values


def tuned_plan(plan: StudentPlan, values: dict[str, object], max_epochs: int | None = None) -> StudentPlan:
    """`plan` with the knobs' values in its student config (and its reliable ratio); `max_epochs` caps training."""
    config = plan.config.model_dump()
    for name, value in values.items():
        head, _, tail = KNOB_FIELDS[name].partition(".")
        if tail:
            config[head][tail] = value
        else:
            config[head] = value
    if max_epochs is not None:
        config["optim"]["max_epochs"] = min(config["optim"]["max_epochs"], max_epochs)
    student = type(plan.config).model_validate(config)
    ratio = values.get("reliable_ratio", plan.reliable_ratio)
    return plan.model_copy(update={"config": student, "reliable_ratio": ratio})


def tune_student(
    plan: StudentPlan, tuning: TuningConfig, train: Callable[[StudentPlan, EpochCallback], float],
) -> optuna.Study:
    """Run `tuning.trials` trials; each trains `tuned_plan(plan, values)` through `train(plan, on_epoch)`, which
    returns the best validation Micro-F1 and must call `on_epoch(epoch, record)` with `best_val_micro_f1`."""

    def objective(trial: optuna.Trial) -> float:
        trial_plan = tuned_plan(plan, suggest(trial, plan), tuning.max_epochs)

        def on_epoch(epoch: int, record: dict[str, float]) -> None:
            trial.report(record["best_val_micro_f1"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: below the median of earlier trials")

        return train(trial_plan, on_epoch)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", study_name=f"tune-{plan.name}",
        sampler=optuna.samplers.TPESampler(seed=tuning.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=tuning.startup_trials, n_warmup_steps=tuning.warmup_epochs),
    )
    study.optimize(objective, n_trials=tuning.trials)
    return study


def study_summary(study: optuna.Study) -> dict:
    """Best value and parameters, trial counts by state, and parameter importance (when it can be computed)."""
    states = [t.state.name.lower() for t in study.trials]
    summary = {"best_value": study.best_value, "best_params": study.best_params, "best_trial": study.best_trial.number,
               "trials": {state: states.count(state) for state in sorted(set(states))}}
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(completed) >= 2 and len({t.value for t in completed}) > 1:
        summary["importance"] = optuna.importance.get_param_importances(study)
    return summary
