"""Train one student for every run: one MLflow run per student, a model per run."""

from typing import Annotated

import mlflow
import pandas as pd
import torch
from torch import nn
from zenml import step

from hg2m.contracts import InputMatrix, RunSplit, StudentReport, StudentRunReport, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.signals import build_signals
from hg2m.plan import StudentPlan
from hg2m.progress import EpochProgress
from hg2m.student import train_student
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def student(
    graph: HeteroGraphData,
    inputs: InputMatrix,
    plan: StudentPlan,
    device: str,
    splits: list[RunSplit],
    teacher_runs: list[TeacherRun],
    reliability: list[pd.DataFrame],
    metapath_neighbours: pd.DataFrame | None = None,
) -> tuple[Annotated[nn.ModuleDict, "student_models"], Annotated[StudentReport, "student_report"]]:
    """`teacher_runs` and `reliability` are aligned with `splits`, or empty when the plan does not use them."""
    mlflow_run_id = link_runs()
    mlflow.set_tag("student", plan.name)
    mlflow.log_params({**flatten(plan.config.model_dump(), "student."), "runs": [s.run.key for s in splits],
                       "metapaths": list(plan.metapaths), "inputs": plan.inputs, "input_width": inputs.layout.width,
                       "snapshot_hash": graph.snapshot_hash})
    models, per_run = nn.ModuleDict(), {}
    for index, split in enumerate(splits):
        run = split.run
        rows = inputs.for_split(graph, split)
        signals = build_signals(
            graph, rows, plan, split,
            teacher=teacher_runs[index] if teacher_runs else None,
            reliable=torch.from_numpy(reliability[index]["reliable"].to_numpy().copy()) if reliability else None,
            pairs=metapath_neighbours,
        )
        with EpochProgress(f"student {plan.name} {run.setting} s{run.seed}", plan.config.optim.max_epochs) as progress:
            trained = train_student(graph, rows, signals, plan, run.seed, resolve_device(device), progress)
        log_history(trained.fit.history, prefix=f"{run.key}/")
        log_split_metrics(trained.metrics, prefix=f"{run.key}/")
        models[run.key] = trained.model
        per_run[run.key] = StudentRunReport(best_epoch=trained.fit.best_epoch, epochs_run=trained.fit.epochs_run,
                                            metapath_edges=[len(src) for src, _, _ in signals.metapath_edges])
    return models, StudentReport(name=plan.name, method=plan.method, inputs=plan.inputs, config=plan.config,
                                 mlflow_run_id=mlflow_run_id, runs=per_run)
