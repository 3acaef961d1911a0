"""Train one student for every (setting, seed) run: one MLflow run per student, a model per run."""

from typing import Annotated

import mlflow
import pandas as pd
import torch
from torch import nn
from zenml import step

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.signals import build_signals, run_key
from hg2m.inductive import hidden_nodes
from hg2m.progress import EpochProgress
from hg2m.student import train_student
from hg2m.teacher import frame_to_logits
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def student(
    graph: HeteroGraphData,
    config: StudentConfig,
    runs: list[tuple[str, int]],
    held_out_fraction: float,
    all_metapaths: list[str],
    device: str,
    teacher_logits: list[pd.DataFrame],
    teacher_models: list[nn.Module],
    reliability: list[pd.DataFrame],
    metapath_neighbours: pd.DataFrame | None = None,
) -> tuple[Annotated[nn.ModuleDict, "student_models"], Annotated[dict, "student_report"]]:
    """Lists of teacher artifacts are aligned with `runs`. Every student gets them all (ZenML takes a
    list of artifacts only as a plain `list[...]` input, never an optional one); build_signals passes
    on only what the method uses."""
    run_id = link_runs()
    mlflow.set_tag("student", config.name)
    mlflow.log_params({**flatten(config.model_dump(), "student."), "runs": runs, "snapshot_hash": graph.snapshot_hash})
    models, per_run = nn.ModuleDict(), {}
    for index, (setting, seed) in enumerate(runs):
        key = run_key(setting, seed)
        signals = build_signals(
            graph, config, hidden_nodes(graph, setting, held_out_fraction, seed), all_metapaths,
            teacher_logits=frame_to_logits(teacher_logits[index]),
            reliable=torch.from_numpy(reliability[index]["reliable"].to_numpy().copy()),
            teacher_model=teacher_models[index],
            pairs=metapath_neighbours,
        )
        with EpochProgress(f"student {config.name} {setting} s{seed}", config.optim.max_epochs) as progress:
            trained = train_student(graph, signals, config, seed, resolve_device(device), progress)
        log_history(trained.fit.history, prefix=f"{key}/")
        log_split_metrics(trained.metrics, prefix=f"{key}/")
        models[key] = trained.model
        per_run[key] = {"best_epoch": trained.fit.best_epoch, "epochs_run": trained.fit.epochs_run,
                        "metapath_edges": [len(src) for src, _, _ in signals.metapath_edges]}
    report = {"name": config.name, "method": config.method, "config": config.model_dump(mode="json"),
              "mlflow_run_id": run_id, "runs": per_run}
    return models, report
