"""Train one student for every run: one MLflow run per student, a model per run. With tuning on, an Optuna
search on the tuning run comes first (hg2m.tuning), each trial a nested MLflow run, and the best values
then train on every run."""

import itertools
from typing import Annotated

import mlflow
import optuna
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn
from zenml import step

from hg2m.config import DistributedConfig, TuningConfig
from hg2m.contracts import FeatureTransforms, InputMatrix, RunSplit, StudentReport, StudentRunReport, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.reliability import reliable_mask, unlabelled_nodes
from hg2m.distill.signals import TeacherSignals, build_signals
from hg2m.distributed.students import train_student_data_parallel
from hg2m.labels import is_multi_label
from hg2m.plan import Run, StudentPlan
from hg2m.progress import EpochProgress
from hg2m.registry import served_example, served_student
from hg2m.serving import log_student
from hg2m.student import train_student
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import EpochCallback, TrainedModel, resolve_device
from hg2m.tuning import study_summary, tune_student, tuned_plan
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def student(
    graph: HeteroGraphData,
    inputs: InputMatrix,
    plan: StudentPlan,
    device: str,
    splits: list[RunSplit],
    teacher_runs: list[TeacherRun],
    tuning: TuningConfig,
    transforms: FeatureTransforms,
    raw_example: list[list[float]],
    class_names: list[str],
    tuning_run: Run | None = None,
    metapath_neighbours: pd.DataFrame | None = None,
    distributed: DistributedConfig | None = None,
) -> tuple[Annotated[nn.ModuleDict, "student_models"], Annotated[StudentReport, "student_report"]]:
    """`teacher_runs` is aligned with `splits`, or empty when the plan does not use soft labels. Reliable nodes
    are drawn from the teacher's logits with the student's own p (tuned or configured). Each run's model is
    logged to the student's MLflow run as it would be served (behind the target type's input transform, so it
    takes raw features; `raw_example` is a few nodes' raw features for its input example), with its scores. With
    `distributed.student_processes` > 1 every training (trials included) runs data-parallel in that many processes."""
    mlflow_run_id = link_runs()
    mlflow.set_tag("student", plan.name)
    ranks = distributed.student_processes if distributed else 1
    if ranks > 1:
        mlflow.set_tag("data_parallel", f"DDP: {ranks} processes")
    mlflow.log_params({**flatten(plan.config.model_dump(), "student."), "runs": [s.run.key for s in splits],
                       "metapaths": list(plan.metapaths), "inputs": plan.inputs, "input_width": inputs.layout.width,
                       "snapshot_hash": graph.snapshot_hash})
    device_ = resolve_device(device)

    def train_on(student_plan: StudentPlan, index: int, on_epoch: EpochCallback) -> tuple[TrainedModel, TeacherSignals]:
        split = splits[index]
        rows = inputs.for_split(graph, split)
        teacher = teacher_runs[index] if teacher_runs else None
        reliable = None
        if student_plan.reliability:
            reliable = reliable_mask(teacher.logits, graph.labels, graph.splits["train"],
                                     unlabelled_nodes(graph.splits, split.observed()), student_plan.reliable_ratio)
        signals = build_signals(graph, rows, student_plan, split, teacher=teacher, reliable=reliable,
                                pairs=metapath_neighbours)
        if ranks == 1:
            return train_student(graph, rows, signals, student_plan, split.run.seed, device_, on_epoch), signals
        trained, peak_mib = train_student_data_parallel(graph, rows, signals, student_plan, split.run.seed, device_,
                                                        ranks, distributed.timeout_s, on_epoch)
        mlflow.log_metrics({f"{split.run.key}/peak_rss_mb.{name}": mib for name, mib in peak_mib.items()})
        return trained, signals

    trial_numbers = itertools.count()

    def trial(trial_plan: StudentPlan, index: int, on_epoch: EpochCallback) -> float:
        """One Optuna trial as a nested MLflow run: its values, its validation curve and how it ended."""
        number = next(trial_numbers)
        mlflow.start_run(run_name=f"{plan.name} trial {number}", nested=True)
        status = "FAILED"
        try:
            mlflow.set_tags({"student": plan.name, "trial": number, "tuning_run": splits[index].run.key})
            mlflow.log_params(flatten(trial_plan.config.model_dump(), "student.")
                              | {"reliable_ratio": trial_plan.reliable_ratio})
            with EpochProgress(f"tune {plan.name} trial {number}", trial_plan.config.optim.max_epochs) as progress:
                trained, _ = train_on(trial_plan, index, lambda epoch, record: (progress(epoch, record),
                                                                                on_epoch(epoch, record)))
            log_history(trained.fit.history)
            mlflow.log_metric("best_val_micro_f1", trained.fit.best_val_micro_f1)
            mlflow.set_tag("state", "complete")
            status = "FINISHED"
            return trained.fit.best_val_micro_f1
        except optuna.TrialPruned:
            mlflow.set_tag("state", "pruned")
            status = "KILLED"
            raise
        finally:
            mlflow.end_run(status=status)  # ends the trial's run only, whatever happened

    tuned, tuned_params = plan, {}
    if tuning_run is not None and tuning.trials:
        index = next(i for i, split in enumerate(splits) if split.run == tuning_run)
        study = tune_student(plan, tuning, lambda trial_plan, on_epoch: trial(trial_plan, index, on_epoch))
        tuned_params = study.best_params
        tuned = tuned_plan(plan, tuned_params)
        log_study(study)

    models, per_run = nn.ModuleDict(), {}
    example = served_example(torch.tensor(raw_example, dtype=torch.float32), inputs).numpy()
    metadata = {"snapshot_hash": graph.snapshot_hash, "student_config": tuned.config.model_dump(mode="json"),
                "input_layout": inputs.layout.model_dump(mode="json")}
    for index, split in enumerate(splits):
        run = split.run
        with EpochProgress(f"student {plan.name} {run.setting} s{run.seed}", tuned.config.optim.max_epochs) as progress:
            trained, signals = train_on(tuned, index, progress)
        log_history(trained.fit.history, prefix=f"{run.key}/")
        served = served_student(trained.model, inputs.layout, transforms.by_type.get(graph.target_type))
        logged = log_student(served, example, class_names, metadata={**metadata, "run": run.key},
                             name=f"{plan.name}-{run.key}", multi_label=is_multi_label(graph.labels))
        log_split_metrics(trained.metrics, prefix=f"{run.key}/", model_id=logged.model_id)
        models[run.key] = trained.model
        per_run[run.key] = StudentRunReport(best_epoch=trained.fit.best_epoch, epochs_run=trained.fit.epochs_run,
                                            metapath_edges=[len(src) for src, _, _ in signals.metapath_edges],
                                            model_uri=logged.model_uri)
    return models, StudentReport(name=plan.name, method=plan.method, inputs=plan.inputs,
                                 input_width=inputs.layout.width, snapshot_hash=graph.snapshot_hash,
                                 config=tuned.config, mlflow_run_id=mlflow_run_id, runs=per_run,
                                 tuned_params=tuned_params)


def log_study(study: optuna.Study) -> None:
    """The search as artifacts of the student's run: summary (best values, importance), every trial, a plot."""
    summary = study_summary(study)
    mlflow.log_params({f"tuned.{name}": value for name, value in study.best_params.items()})
    mlflow.log_metric("tuning_best_val_micro_f1", study.best_value)
    mlflow.log_dict(summary, "tuning/study.json")
    mlflow.log_text(study.trials_dataframe().to_csv(index=False), "tuning/trials.csv")
    mlflow.log_figure(history_figure(study), "tuning/history.png")
    mlflow.set_tag("tuning", f"{len(study.trials)} trials, {summary['trials']}; best {study.best_value:.4f}")


def history_figure(study: optuna.Study) -> Figure:
    """Each trial's best validation Micro-F1 (pruned ones at their last report) and the best so far."""
    figure = Figure(figsize=(7, 3.5))
    axis = figure.subplots()
    best, best_so_far = -1.0, []
    points = []
    for trial in study.trials:
        value = trial.value if trial.value is not None else max(trial.intermediate_values.values(), default=None)
        if value is None:
            continue
        points.append((trial.number, value, trial.state == optuna.trial.TrialState.PRUNED))
        if trial.value is not None:
            best = max(best, trial.value)
        best_so_far.append((trial.number, best))
    for pruned, label in ((False, "complete"), (True, "pruned")):
        chosen = [(n, v) for n, v, p in points if p == pruned]
        if chosen:
            axis.scatter(*zip(*chosen, strict=True), label=label, alpha=0.7)
    if best_so_far:
        axis.step(*zip(*best_so_far, strict=True), where="post", label="best so far", color="black")
    axis.set_xlabel("trial")
    axis.set_ylabel("validation Micro-F1")
    axis.legend()
    figure.tight_layout()
    return figure
