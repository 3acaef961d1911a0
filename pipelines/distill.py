"""The distill pipeline.

Steps and their artifacts (each one versioned and tracked by ZenML):
    ingest_snapshot   raw files          -> snapshot (Parquet folder + manifest, content-hashed)
    validate          snapshot           -> validation_report (Great Expectations; stops the run on bad data)
    build_graph       snapshot           -> graph (DGL heterograph, features, labels, splits)
    teacher           graph              -> teacher_model, teacher_logits (soft labels), teacher_report
    student_<name>    graph (+ logits)   -> student_model, student_report        (one per configured student)
    evaluate          graph, models      -> comparison (val/test accuracy, Macro-F1, Micro-F1 per model)
    register          comparison, models -> registration (best student in the MLflow model registry)
Every tracked step is a nested MLflow run under one parent run per pipeline run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from zenml import pipeline
from zenml.enums import ExecutionMode
from zenml.models import PipelineRunResponse

from hg2m.config import RunConfig
from hg2m.data.raw import fingerprint_files
from hg2m.environment import mlflow_artifact_root
from hg2m.tracking import ensure_experiment
from pipelines.stack import ensure_stack
from steps.etl.build_graph import build_graph
from steps.etl.ingest import ingest_snapshot
from steps.etl.validate import validate
from steps.evaluation.evaluate import evaluate
from steps.promotion.register import register
from steps.training.train_student import student
from steps.training.train_teacher import teacher
from steps.tracking import tracker_settings


@pipeline(name="distill")
def distill(run_config: dict, raw_fingerprint: str) -> None:
    config = RunConfig.model_validate(run_config)
    snapshot = ingest_snapshot(dataset=config.dataset, raw_fingerprint=raw_fingerprint)
    validate(snapshot)
    graph = build_graph(snapshot, config=config.graph, after="validate")
    _, teacher_logits, _ = teacher(graph, config=config.teacher, graph_config=config.graph,
                                   seed=config.seed, device=config.device)
    models, reports = [], []
    for spec in config.students:
        soft_labels = {} if spec.method == "mlp" else {"teacher_logits": teacher_logits}
        model, report = student(graph, config=spec, seed=config.seed, device=config.device,
                                id=f"student_{spec.name}", **soft_labels)
        models.append(model)
        reports.append(report)
    comparison = evaluate(graph, teacher_logits, models, reports)
    register(graph, comparison, models, reports, model_name=config.registered_model_name, run_config=run_config)


@dataclass
class DistillOutcome:
    run: PipelineRunResponse
    comparison: pd.DataFrame
    registration: dict


def run_distill(config: RunConfig, tracking_uri: str, artifact_root: Path | None = None) -> DistillOutcome:
    """Set up the stack and MLflow experiment, run the pipeline, and load its summary artifacts."""
    ensure_stack(tracking_uri)
    local_store = tracking_uri.startswith("sqlite:")
    ensure_experiment(tracking_uri, config.experiment_name,
                      (artifact_root or mlflow_artifact_root()) if local_store else None)
    fingerprint = fingerprint_files(config.dataset.resolved_raw_dir())
    # FAIL_FAST re-raises the failing step's own exception (e.g. the validation report), not a summary.
    configured = distill.with_options(enable_cache=config.enable_cache, execution_mode=ExecutionMode.FAIL_FAST,
                                      settings=tracker_settings(config.experiment_name))
    run = configured(run_config=config.model_dump(mode="json"), raw_fingerprint=fingerprint)
    return DistillOutcome(
        run=run,
        comparison=run.steps["evaluate"].outputs["comparison"][0].load(),
        registration=run.steps["register"].outputs["registration"][0].load(),
    )
