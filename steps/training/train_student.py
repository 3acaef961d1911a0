"""Train one MLP student (hard labels or the teacher's soft labels); one MLflow run per student."""

from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import step

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.progress import EpochProgress
from hg2m.student import train_student
from hg2m.teacher import frame_to_logits
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def student(
    graph: HeteroGraphData, config: StudentConfig, seed: int, device: str,
    teacher_logits: pd.DataFrame | None = None,
) -> tuple[Annotated[nn.Module, "student_model"], Annotated[dict, "student_report"]]:
    run_id = link_runs()
    mlflow.set_tag("student", config.name)
    mlflow.log_params({**flatten(config.model_dump(), "student."), "seed": seed, "snapshot_hash": graph.snapshot_hash})
    soft_labels = frame_to_logits(teacher_logits) if teacher_logits is not None else None
    with EpochProgress(f"student {config.name}", config.optim.max_epochs) as progress:
        trained = train_student(graph, soft_labels, config, seed, resolve_device(device), progress)
    log_history(trained.fit.history)
    log_split_metrics(trained.metrics)
    report = {"name": config.name, "method": config.method, "config": config.model_dump(mode="json"),
              "metrics": trained.metrics, "mlflow_run_id": run_id,
              "best_epoch": trained.fit.best_epoch, "epochs_run": trained.fit.epochs_run}
    return trained.model, report
