"""What every tracked step shares: the MLflow tracker settings and the ZenML <-> MLflow links."""

from __future__ import annotations

import mlflow
from zenml import get_step_context, log_metadata
from zenml.integrations.mlflow.flavors.mlflow_experiment_tracker_flavor import MLFlowExperimentTrackerSettings

from hg2m.resources import peak_rss_mb, reset_peak_rss

TRACKER = "hg2m_mlflow"  # the stack's MLflow experiment tracker (pipelines/stack.py registers it)


def tracker_settings(experiment_name: str) -> dict:
    """Pipeline settings: one MLflow parent run per pipeline run, a nested run per tracked step."""
    return {"experiment_tracker": MLFlowExperimentTrackerSettings(
        experiment_name=experiment_name, nested=True, tags={"project": "hg2m"})}


def link_runs() -> str:
    """Tag the active MLflow run with the ZenML run and step; record the MLflow run id in ZenML."""
    context = get_step_context()
    run = mlflow.active_run()
    mlflow.set_tags({
        "zenml_pipeline_run_id": str(context.pipeline_run.id),
        "zenml_pipeline_run_name": context.pipeline_run.name,
        "zenml_step": context.step_run.name,
    })
    log_metadata(metadata={"mlflow_run_id": run.info.run_id, "mlflow_parent_run_id": parent_run_id() or ""})
    return run.info.run_id


def parent_run_id() -> str | None:
    """The pipeline-level MLflow run that the active (nested) step run hangs under."""
    return mlflow.active_run().data.tags.get("mlflow.parentRunId")


def start_memory_watch() -> None:
    """Step start hook: begin measuring this step's own peak memory."""
    reset_peak_rss()


def record_peak_memory() -> None:
    """Step success hook: the step's peak resident memory, as step metadata (`peak_rss_mb`)."""
    log_metadata(metadata={"peak_rss_mb": round(peak_rss_mb(), 1)})
