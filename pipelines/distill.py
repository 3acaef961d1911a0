"""The distill pipeline.

Steps and their artifacts (each one versioned and tracked by ZenML):
    ingest_snapshot        raw files        -> snapshot (Parquet folder + manifest, content-hashed)
    validate               snapshot         -> validation_report (Great Expectations; stops the run on bad data)
    build_graph            snapshot         -> graph (DGL heterograph, features, labels, splits)
    metapaths              graph            -> metapath_neighbours (meta-path, node, neighbour, count), capped
    teacher_<run>          graph            -> teacher_model, teacher_logits (soft labels), teacher_report
    reliability_<run>      teacher_logits   -> reliability (entropy, confidence, teacher label, reliable)
    student_<name>         all of the above -> student_models (one MLP per run), student_report
    evaluate               models, logits   -> results (per model, setting, seed), summary (mean, std)
    register               results, models  -> registration (best student in the MLflow model registry)
A run is one (setting, seed) pair: settings transductive / inductive, seeds from the config.
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
from hg2m.distill.signals import run_key
from hg2m.environment import mlflow_artifact_root
from hg2m.tracking import ensure_experiment
from pipelines.stack import ensure_stack
from steps.distill.metapaths import metapaths
from steps.distill.reliability import reliability
from steps.etl.build_graph import build_graph
from steps.etl.ingest import ingest_snapshot
from steps.etl.validate import validate
from steps.evaluation.evaluate import evaluate
from steps.promotion.register import register
from steps.training.train_student import student
from steps.training.train_teacher import teacher
from steps.tracking import record_peak_memory, start_memory_watch, tracker_settings


@pipeline(name="distill", on_start=start_memory_watch, on_success=record_peak_memory)
def distill(run_config: dict, raw_fingerprint: str) -> None:
    config = RunConfig.model_validate(run_config)
    fraction, device, runs = config.evaluation.inductive_fraction, config.device, config.runs()
    snapshot = ingest_snapshot(dataset=config.dataset, raw_fingerprint=raw_fingerprint)
    validate(snapshot)
    graph = build_graph(snapshot, config=config.graph, after="validate")
    needs_pairs = any(s.uses_reliability and s.gamma > 0 for s in config.students)
    pairs = metapaths(graph, config.dataset.metapaths, config.metapath) if needs_pairs else None
    teacher_models, teacher_logits, reliabilities = [], [], []
    for setting, seed in runs:
        key = run_key(setting, seed)
        model, logits, _ = teacher(graph, config=config.teacher, graph_config=config.graph, setting=setting,
                                   seed=seed, held_out_fraction=fraction, device=device,
                                   metapaths=config.dataset.metapaths, id=f"teacher_{key}")
        teacher_models.append(model)
        teacher_logits.append(logits)
        reliabilities.append(reliability(graph, logits, ratio=config.evaluation.reliable_ratio,
                                         id=f"reliability_{key}"))
    student_models, reports = [], []
    for spec in config.students:
        uses_pairs = spec.uses_reliability and spec.gamma > 0
        models, report = student(graph, config=spec, runs=runs, held_out_fraction=fraction,
                                 all_metapaths=list(config.dataset.metapaths), device=device,
                                 teacher_logits=teacher_logits, teacher_models=teacher_models,
                                 reliability=reliabilities, id=f"student_{spec.name}",
                                 **({"metapath_neighbours": pairs} if uses_pairs else {}))
        student_models.append(models)
        reports.append(report)
    results, _ = evaluate(graph, runs=runs, held_out_fraction=fraction, teacher_name=config.teacher.model,
                          teacher_logits=teacher_logits, student_models=student_models, student_reports=reports)
    register(graph, results, student_models, reports, setting=config.registration_setting,
             model_name=config.registered_model_name, run_config=run_config)


@dataclass
class DistillOutcome:
    run: PipelineRunResponse
    results: pd.DataFrame
    summary: pd.DataFrame
    registration: dict

    def step_table(self) -> pd.DataFrame:
        """Per step: status, wall seconds and peak resident memory (MiB, the step's own where measurable)."""
        rows = []
        for name, step_run in self.run.steps.items():
            seconds = (step_run.end_time - step_run.start_time).total_seconds() if step_run.end_time else None
            peak = step_run.run_metadata.get("peak_rss_mb")
            rows.append({"step": name, "status": str(step_run.status), "seconds": seconds, "peak_rss_mb": peak})
        return pd.DataFrame(rows)


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
        results=run.steps["evaluate"].outputs["results"][0].load(),
        summary=run.steps["evaluate"].outputs["summary"][0].load(),
        registration=run.steps["register"].outputs["registration"][0].load(),
    )
