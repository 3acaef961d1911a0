"""Train the teacher HGNN for one run; its soft labels (and embeddings, if a student needs them) are the
`teacher_run` artifact that reliability, students and evaluation read."""

from typing import Annotated

import mlflow
from torch import nn
from zenml import step

from hg2m.config import GraphConfig, MetaPath, TeacherConfig
from hg2m.contracts import RunSplit, TeacherReport, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.progress import EpochProgress
from hg2m.teacher import teacher_run, train_teacher_for_run
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.materializers import TeacherRunMaterializer
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER, output_materializers={"teacher_run": TeacherRunMaterializer})
def teacher(
    graph: HeteroGraphData, split: RunSplit, config: TeacherConfig, graph_config: GraphConfig, device: str,
    metapaths: dict[str, MetaPath], with_embeddings: bool,
) -> tuple[
    Annotated[nn.Module, "teacher_model"],
    Annotated[TeacherRun, "teacher_run"],
    Annotated[TeacherReport, "teacher_report"],
]:
    run = split.run
    mlflow_run_id = link_runs()
    mlflow.set_tags({"setting": run.setting, "seed": run.seed})
    mlflow.log_params({**flatten(config.model_dump(), "teacher."), "seed": run.seed, "setting": run.setting,
                       "snapshot_hash": graph.snapshot_hash})
    with EpochProgress(f"teacher {config.model} {run.setting} s{run.seed}", config.optim.max_epochs) as progress:
        trained = train_teacher_for_run(graph, split, config, graph_config, resolve_device(device), progress, metapaths)
    log_history(trained.fit.history)
    log_split_metrics(trained.metrics)
    report = TeacherReport(model=config.model, run=run, mlflow_run_id=mlflow_run_id, best_epoch=trained.fit.best_epoch,
                           epochs_run=trained.fit.epochs_run, hidden_nodes=len(split.hidden))
    return trained.model, teacher_run(trained.model, graph, split, trained.logits, with_embeddings), report
