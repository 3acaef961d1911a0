"""Train the teacher HGNN for one run; its soft labels (and embeddings, if a student needs them) are the
`teacher_run` artifact that reliability, students and evaluation read.

With `teacher: auto`, `teacher` trains each candidate on the selection run, `select_teacher` chooses on
validation, `pick_teacher` hands on the chosen candidate's artifacts for that run, and `selected_teacher`
trains the chosen one on every other run."""

from pathlib import Path
from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from torch import nn
from zenml import get_step_context, step

from hg2m.config import DistributedConfig, GraphConfig, MetaPath, TeacherConfig
from hg2m.contracts import RunSplit, TeacherReport, TeacherRun, TeacherSelection
from hg2m.data.graph import HeteroGraphData
from hg2m.distributed.teacher import train_teacher_distributed
from hg2m.evaluate import markdown_table, select_teacher
from hg2m.progress import EpochProgress
from hg2m.teacher import teacher_run, train_teacher_for_run
from hg2m.tracking import flatten, log_history, log_split_metrics
from hg2m.train import resolve_device
from steps.materializers import TeacherRunMaterializer
from steps.tracking import TRACKER, link_runs, parent_run_id

TeacherOutputs = tuple[
    Annotated[nn.Module, "teacher_model"],
    Annotated[TeacherRun, "teacher_run"],
    Annotated[TeacherReport, "teacher_report"],
]


def train_and_report(graph: HeteroGraphData, split: RunSplit, config: TeacherConfig, graph_config: GraphConfig,
                     device: str, metapaths: dict[str, MetaPath], with_embeddings: bool, distributed: DistributedConfig,
                     partitions: Path | None) -> TeacherOutputs:
    """Train `config` on the run's graph (on its partitions with DistDGL when they are given), log it to the step's
    MLflow run, and return the step's outputs."""
    run = split.run
    mlflow_run_id = link_runs()
    mlflow.set_tags({"setting": run.setting, "seed": run.seed, "teacher": config.model})
    params = {**flatten(config.model_dump(), "teacher."), "seed": run.seed, "setting": run.setting,
              "snapshot_hash": graph.snapshot_hash}
    mlflow.log_params(params)
    with EpochProgress(f"teacher {config.model} {run.setting} s{run.seed}", config.optim.max_epochs) as progress:
        if partitions is None:
            trained = train_teacher_for_run(graph, split, config, graph_config, resolve_device(device), progress,
                                            metapaths)
            outputs = teacher_run(trained.model, graph, split, trained.logits, with_embeddings)
        else:  # the plan allows it in the transductive setting only: the partitions hold every node
            parts = distributed.num_parts  # the partitions were cut with this config
            mlflow.set_tag("distributed", f"DistDGL: {parts} parts, {parts * distributed.trainers_per_part} trainers")
            result = train_teacher_distributed(graph, partitions, config, graph_config, run.seed,
                                               distributed.trainers_per_part, distributed.timeout_s, progress,
                                               with_embeddings=with_embeddings)
            mlflow.log_metrics({f"peak_rss_mb.{process}": mib for process, mib in result.peak_mib.items()})
            trained, outputs = result.trained, TeacherRun(logits=result.trained.logits, embeddings=result.embeddings)
    log_history(trained.fit.history)
    # A graph model is no row-wise pyfunc: MLflow records it as an external model (its weights are this step's
    # ZenML artifact `teacher_model`), so that the teacher and its scores show among the experiment's models.
    logged = mlflow.create_external_model(
        name=f"teacher-{config.model}-{run.key}", model_type="teacher", params={k: str(v) for k, v in params.items()},
        tags={"weights": f"ZenML artifact 'teacher_model' of step '{get_step_context().step_run.name}' in pipeline "
                         f"run {get_step_context().pipeline_run.id}"})
    log_split_metrics(trained.metrics, model_id=logged.model_id)
    report = TeacherReport(model=config.model, run=run, mlflow_run_id=mlflow_run_id, best_epoch=trained.fit.best_epoch,
                           epochs_run=trained.fit.epochs_run, hidden_nodes=len(split.hidden),
                           micro_f1={part: scores["micro_f1"] for part, scores in trained.metrics.items()})
    return trained.model, outputs, report


@step(experiment_tracker=TRACKER, output_materializers={"teacher_run": TeacherRunMaterializer})
def teacher(
    graph: HeteroGraphData, split: RunSplit, config: TeacherConfig, graph_config: GraphConfig, device: str,
    metapaths: dict[str, MetaPath], with_embeddings: bool, distributed: DistributedConfig,
    partitions: Path | None = None,
) -> TeacherOutputs:
    # ZenML reads the outputs off a literal tuple in the return statement
    model, run, report = train_and_report(graph, split, config, graph_config, device, metapaths, with_embeddings,
                                          distributed, partitions)
    return model, run, report


@step(experiment_tracker=TRACKER, output_materializers={"teacher_run": TeacherRunMaterializer})
def selected_teacher(
    graph: HeteroGraphData, split: RunSplit, selection: TeacherSelection, candidates: list[TeacherConfig],
    graph_config: GraphConfig, device: str, metapaths: dict[str, MetaPath], with_embeddings: bool,
    distributed: DistributedConfig, partitions: Path | None = None,
) -> TeacherOutputs:
    """The chosen candidate, trained on a run other than the selection run."""
    config = next(c for c in candidates if c.model == selection.chosen)
    model, run, report = train_and_report(graph, split, config, graph_config, device, metapaths, with_embeddings,
                                          distributed, partitions)
    return model, run, report


@step(experiment_tracker=TRACKER)
def select_teacher_step(reports: list[TeacherReport]) -> Annotated[TeacherSelection, "teacher_selection"]:
    """Choose on validation Micro-F1; log every candidate's scores here and on the pipeline's parent run."""
    link_runs()
    val = {r.model: r.micro_f1["val"] for r in reports}
    test = {r.model: r.micro_f1["test"] for r in reports}
    chosen, reason = select_teacher(val)
    selection = TeacherSelection(chosen=chosen, run=reports[0].run, val_micro_f1=val, test_micro_f1=test,
                                 reason=reason)
    table = markdown_table(selection.table())
    parent = parent_run_id()
    mlflow.set_tag("teacher", chosen)
    mlflow.log_text(table, "teacher_selection.md")
    for client_run in filter(None, (mlflow.active_run().info.run_id, parent)):
        MlflowClient().set_tag(client_run, "teacher_selection", reason)
        for name in val:
            MlflowClient().log_metric(client_run, f"teacher_candidate.{name}.val_micro_f1", val[name])
            MlflowClient().log_metric(client_run, f"teacher_candidate.{name}.test_micro_f1", test[name])
    if parent:
        MlflowClient().log_text(parent, table, "teacher_selection.md")
    return selection


@step(output_materializers={"teacher_run": TeacherRunMaterializer})
def pick_teacher(
    selection: TeacherSelection, models: list[nn.Module], runs: list[TeacherRun], reports: list[TeacherReport],
) -> TeacherOutputs:
    """The chosen candidate's artifacts on the selection run (it was trained there already); aligned lists."""
    index = next(i for i, report in enumerate(reports) if report.model == selection.chosen)
    return models[index], runs[index], reports[index]

