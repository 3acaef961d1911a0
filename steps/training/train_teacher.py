"""Train the teacher HGNN for one (setting, seed); its logits become the students' soft labels."""

from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import step

from hg2m.config import GraphConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.inductive import hidden_nodes, observed_mask
from hg2m.progress import EpochProgress
from hg2m.teacher import logits_to_frame, train_teacher_for_setting
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def teacher(
    graph: HeteroGraphData, config: TeacherConfig, graph_config: GraphConfig, setting: str, seed: int,
    held_out_fraction: float, device: str, metapaths: dict[str, list[str]],
) -> tuple[
    Annotated[nn.Module, "teacher_model"],
    Annotated[pd.DataFrame, "teacher_logits"],
    Annotated[dict, "teacher_report"],
]:
    run_id = link_runs()
    mlflow.set_tags({"setting": setting, "seed": seed})
    mlflow.log_params({**flatten(config.model_dump(), "teacher."), "seed": seed, "setting": setting,
                       "snapshot_hash": graph.snapshot_hash})
    hidden = hidden_nodes(graph, setting, held_out_fraction, seed)
    with EpochProgress(f"teacher {config.model} {setting} s{seed}", config.optim.max_epochs) as progress:
        trained = train_teacher_for_setting(graph, hidden, config, graph_config, seed, resolve_device(device),
                                            progress, metapaths)
    log_history(trained.fit.history)
    log_split_metrics(trained.metrics)
    report = {"name": "teacher", "model": config.model, "setting": setting, "seed": seed, "mlflow_run_id": run_id,
              "best_epoch": trained.fit.best_epoch, "epochs_run": trained.fit.epochs_run, "hidden_nodes": len(hidden)}
    frame = logits_to_frame(trained.logits, observed_mask(graph.num_target_nodes, hidden))
    return trained.model, frame, report
