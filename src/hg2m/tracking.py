"""MLflow helpers: experiments with a predictable artifact location, flat params, batched metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

MLFLOW_BATCH_LIMIT = 1000  # MLflow's maximum number of metrics per log_batch call


def ensure_experiment(tracking_uri: str, name: str, artifact_root: Path | None) -> str:
    """Create the experiment if missing; a local store gets its artifacts under `artifact_root`.

    Without this, a sqlite store puts artifacts in `./mlruns` of whatever folder the run started in.
    """
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (artifact_root / name).resolve().as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def flatten(params: Mapping, prefix: str = "") -> dict[str, str]:
    """{'optim': {'lr': 0.01}} -> {'optim.lr': '0.01'} (MLflow params are flat strings)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def log_history(history: list[dict[str, float]], prefix: str = "") -> None:
    """Log per-epoch metrics (step = epoch, from 1) to the active run in a few batched calls."""
    run_id = mlflow.active_run().info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"{prefix}{key}", float(value), now, epoch)
        for epoch, record in enumerate(history, start=1)
        for key, value in record.items()
    ]
    client = MlflowClient()
    for start in range(0, len(metrics), MLFLOW_BATCH_LIMIT):
        client.log_batch(run_id, metrics=metrics[start : start + MLFLOW_BATCH_LIMIT])


def log_split_metrics(metrics: dict[str, dict[str, float]], prefix: str = "", run_id: str | None = None,
                      model_id: str | None = None) -> None:
    """{'test': {'micro_f1': 0.9}} -> metric '<prefix>test_micro_f1' on the given (or active) run, linked to the
    logged model `model_id` when given (MLflow shows it on the model's page)."""
    flat = {f"{prefix}{split}_{name}": value for split, values in metrics.items() for name, value in values.items()}
    now = int(time.time() * 1000)
    MlflowClient().log_batch(run_id or mlflow.active_run().info.run_id,
                             metrics=[Metric(k, v, now, 0, model_id=model_id) for k, v in flat.items()])
