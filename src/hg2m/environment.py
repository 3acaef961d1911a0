"""Process environment for the embedded stores; must run before zenml or mlflow is imported."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hg2m.config import PROJECT_ROOT

ZENML_HOME = ".zenml_home"
MLFLOW_STORE = "mlflow_store"


def configure_environment(project_root: Path = PROJECT_ROOT) -> None:
    """Point ZenML at a store inside the project unless the user chose one; keep logs quiet.

    A ZENML_CONFIG_PATH already set (e.g. after `zenml login` to a server) is respected.
    """
    os.environ.setdefault("ZENML_CONFIG_PATH", str(project_root / ZENML_HOME))
    os.environ.setdefault("ZENML_REPOSITORY_PATH", str(project_root))
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # CPU and memory of every step's MLflow run (the run page's System metrics), sampled every 5 s
    os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "5")
    os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # four INFO lines per step otherwise
    # GE logs hundreds of INFO lines through ZenML's root handler otherwise.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # ZenML warns on every step that it cannot switch off fastai autologging (fastai is not installed).
    logging.getLogger("zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker").setLevel(logging.ERROR)


def default_mlflow_uri(project_root: Path = PROJECT_ROOT) -> str:
    return f"sqlite:///{project_root / MLFLOW_STORE / 'mlflow.db'}"


def local_artifact_root(tracking_uri: str) -> Path | None:
    """Where a local SQLite tracking store keeps its artifacts: `artifacts/` beside its database (for the
    default store, mlflow_store/artifacts); None for a tracking server, which chooses its own."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"


def use_private_stores(home: Path) -> None:
    """Tests and benchmarks: ZenML store and repository marker under `home`, never the project's.

    ZenML writes machine-local stack ids into the repository's `.zen/config.yaml`, so a private
    store needs a private `.zen` as well. Call before zenml is imported.
    """
    (home / ".zen").mkdir(parents=True, exist_ok=True)
    os.environ["ZENML_CONFIG_PATH"] = str(home / "zenml")
    os.environ["ZENML_REPOSITORY_PATH"] = str(home)
    configure_environment()
