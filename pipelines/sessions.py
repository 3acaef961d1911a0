"""Runs a killed process left open are closed by the next start.

Every pipeline process holds the project's session lock, shared, for as long as it runs; the kernel drops the lock
when the process dies, SIGKILL included. A new process that can take the lock exclusively therefore knows that no
other pipeline process is alive, so every ZenML or MLflow run still marked running belongs to a dead one: it is
marked failed (ZenML) or killed (MLflow) before the new run starts, and a model version whose registration was
cut short (hg2m.registry) is deleted.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from zenml.client import Client
from zenml.enums import ExecutionStatus
from zenml.models import PipelineRunUpdate, StepRunUpdate

from hg2m.registry import delete_incomplete_versions

OPEN_STATUSES = (ExecutionStatus.INITIALIZING, ExecutionStatus.RUNNING)
STALE_REASON = "closed by the next start: the process running it was killed"


@contextmanager
def pipeline_session(lock_path: Path, tracking_uri: str) -> Iterator[list[str]]:
    """Hold the session lock (shared) while the block runs; yields the runs closed as stale on entry."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        closed = []
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            closed = close_stale_runs(tracking_uri)
        except BlockingIOError:
            pass  # another pipeline process is alive: the open runs may be its own
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield closed


def close_stale_runs(tracking_uri: str) -> list[str]:
    """Mark every open ZenML pipeline run (and its open steps) failed and every running MLflow run killed; only
    call this holding the session lock exclusively. Returns what was closed, one line each."""
    closed = []
    client = Client()
    for status in OPEN_STATUSES:
        for run in client.list_pipeline_runs(status=status.value, size=1000, hydrate=True):
            for step in run.steps.values():
                if step.status in OPEN_STATUSES:
                    client.zen_store.update_run_step(step.id, StepRunUpdate(status=ExecutionStatus.FAILED))
            client.zen_store.update_run(run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED,
                                                                  status_reason=STALE_REASON))
            closed.append(f"ZenML run {run.name}")
    mlflow = MlflowClient(tracking_uri)
    closed += [f"model version {v} (registration cut short)" for v in delete_incomplete_versions(mlflow)]
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    if experiments:
        for run in mlflow.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000):
            mlflow.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            closed.append(f"MLflow run {run.info.run_name}")
    return closed
