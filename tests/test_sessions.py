"""Runs a SIGKILLed process left open are closed by the next start, and never while another process is alive."""

import subprocess
import sys
from datetime import datetime

import mlflow
import numpy as np
from conftest import TEST_HOME
from mlflow.tracking import MlflowClient
from zenml.client import Client

from hg2m.models.mlp import MLP
from hg2m.registry import INCOMPLETE_TAG
from hg2m.serving import log_student
from hg2m.tracking import ensure_experiment
from pipelines.sessions import STALE_REASON, pipeline_session
from pipelines.stack import failed_step

KILLED_PIPELINE = """
import os, signal
from zenml import pipeline, step

@step(enable_cache=False)
def killed_mid_step() -> None:
    os.kill(os.getpid(), signal.SIGKILL)

@pipeline
def killed_pipeline():
    killed_mid_step()

killed_pipeline()
"""


def test_runs_left_open_by_a_kill_are_closed_by_the_next_session(mlflow_uri, tmp_path, pytestconfig):
    script = pytestconfig.stash[TEST_HOME] / "killed_pipeline.py"  # in the ZenML repository: its source must resolve
    script.write_text(KILLED_PIPELINE)
    killed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=script.parent)
    assert killed.returncode == -9, killed.stderr[-2000:]
    zenml_run = Client().get_pipeline("killed_pipeline").last_run
    assert zenml_run.status == "running"  # what a kill leaves behind
    client = MlflowClient(mlflow_uri)
    experiment = ensure_experiment(mlflow_uri, "sessions-test", tmp_path / "artifacts")
    mlflow_run = client.create_run(experiment, run_name="left-running").info.run_id
    mlflow.set_tracking_uri(mlflow_uri)  # a registration cut short between creating the version and its alias
    with mlflow.start_run(experiment_id=experiment):
        info = log_student(MLP(3, 2, hidden_dim=4), np.zeros((2, 3), np.float32))
    cut_short = mlflow.register_model(info.model_uri, "sessions-test", tags={INCOMPLETE_TAG: "true"}).version

    lock = tmp_path / "session.lock"
    with pipeline_session(lock, mlflow_uri) as closed:
        with pipeline_session(lock, mlflow_uri) as second:  # another process is alive: nothing is stale to it
            assert second == []
    assert f"ZenML run {zenml_run.name}" in closed and "MLflow run left-running" in closed
    assert f"model version sessions-test/{cut_short} (registration cut short)" in closed
    assert client.search_model_versions("name='sessions-test'") == []
    zenml_run = Client().get_pipeline_run(zenml_run.id)
    assert zenml_run.status == "failed" and zenml_run.get_body().status_reason == STALE_REASON
    assert all(step.status == "failed" for step in zenml_run.steps.values())
    assert failed_step(datetime.min) == "killed_mid_step"  # what run.py names when a run fails
    assert failed_step(datetime.utcnow()) is None  # none of this process's runs failed
    assert client.get_run(mlflow_run).info.status == "KILLED"
    with pipeline_session(lock, mlflow_uri) as again:
        assert again == []


def test_a_live_session_keeps_its_runs_open(mlflow_uri, tmp_path):
    client = MlflowClient(mlflow_uri)
    experiment = ensure_experiment(mlflow_uri, "sessions-test", tmp_path / "artifacts")
    lock = tmp_path / "session.lock"
    with pipeline_session(lock, mlflow_uri):
        live = client.create_run(experiment, run_name="live").info.run_id
        with pipeline_session(lock, mlflow_uri) as closed:
            assert closed == []
        assert client.get_run(live).info.status == "RUNNING"
    client.set_terminated(live)
