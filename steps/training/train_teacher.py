"""Train the teacher HGNN; its logits on every target node become the students' soft labels."""

from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import step

from hg2m.config import GraphConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.progress import EpochProgress
from hg2m.teacher import logits_to_frame, train_teacher
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def teacher(
    graph: HeteroGraphData, config: TeacherConfig, graph_config: GraphConfig, seed: int, device: str
) -> tuple[
    Annotated[nn.Module, "teacher_model"],
    Annotated[pd.DataFrame, "teacher_logits"],
    Annotated[dict, "teacher_report"],
]:
    run_id = link_runs()
    mlflow.log_params({**flatten(config.model_dump(), "teacher."), "seed": seed, "snapshot_hash": graph.snapshot_hash})
    with EpochProgress(f"teacher {config.model}", config.optim.max_epochs) as progress:
        trained = train_teacher(graph, config, graph_config, seed, resolve_device(device), progress)
    log_history(trained.fit.history)
    log_split_metrics(trained.metrics)
    report = {"name": "teacher", "model": config.model, "metrics": trained.metrics, "mlflow_run_id": run_id,
              "best_epoch": trained.fit.best_epoch, "epochs_run": trained.fit.epochs_run}
    return trained.model, logits_to_frame(trained.logits), report
