"""Registration is idempotent and complete-or-absent: a tiny MLP registered in the session's throw-away store."""

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from hg2m.contracts import CHALLENGER_ALIAS
from hg2m.models.mlp import MLP
from hg2m.registry import (
    INCOMPLETE_TAG,
    TRAINING_KEY_TAG,
    delete_incomplete_versions,
    register_challenger,
    trained_snapshot_hashes,
    training_key,
)
from hg2m.serving import log_student
from hg2m.tracking import ensure_experiment

MODEL = "registry-test"
CONFIG = {"dataset": {"name": "tiny"}, "evaluation": {"seeds": [0]}}


@pytest.fixture(scope="module")
def client(mlflow_uri, tmp_path_factory) -> MlflowClient:
    mlflow.set_tracking_uri(mlflow_uri)
    experiment = ensure_experiment(mlflow_uri, "registry-test", tmp_path_factory.mktemp("mlflow-artifacts"))
    mlflow.set_experiment(experiment_id=experiment)
    return MlflowClient(mlflow_uri)


def register(key: str, snapshot_hash: str = "h1") -> str:
    torch.manual_seed(0)
    example = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32))
    with mlflow.start_run():
        info = log_student(MLP(5, 2, hidden_dim=4), example.numpy())
        return register_challenger(info.model_uri, MODEL, {"snapshot_hash": snapshot_hash}, key)


def versions(client: MlflowClient) -> dict[str, dict[str, str]]:
    return {str(v.version): v.tags for v in client.search_model_versions(f"name='{MODEL}'")}


def test_the_same_training_key_registers_once_and_takes_the_alias_back(client):
    first = register(training_key(CONFIG, "h1", "hg2m", "transductive_s0"))
    assert register(training_key(CONFIG, "h1", "hg2m", "transductive_s0")) == first  # a re-run: no duplicate
    assert len(versions(client)) == 1 and INCOMPLETE_TAG not in versions(client)[first]
    other = register(training_key(CONFIG, "h2", "hg2m", "transductive_s0"), snapshot_hash="h2")
    assert other != first and str(client.get_model_version_by_alias(MODEL, CHALLENGER_ALIAS).version) == other
    register(training_key(CONFIG, "h1", "hg2m", "transductive_s0"))
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER_ALIAS).version) == first
    assert len(versions(client)) == 2


def test_keys_differ_by_config_snapshot_student_and_run():
    keys = {training_key(CONFIG, "h1", "hg2m", "transductive_s0"), training_key(CONFIG, "h2", "hg2m", "transductive_s0"),
            training_key(CONFIG, "h1", "hire", "transductive_s0"), training_key(CONFIG, "h1", "hg2m", "inductive_s0"),
            training_key({**CONFIG, "device": "cpu"}, "h1", "hg2m", "transductive_s0")}
    assert len(keys) == 5
    no_cache = {**CONFIG, "enable_cache": False, "tracking": {"mlflow_tracking_uri": "http://elsewhere"}}
    assert training_key(no_cache, "h1", "hg2m", "transductive_s0") == training_key(CONFIG, "h1", "hg2m",
                                                                                    "transductive_s0")


def test_a_version_left_incomplete_by_a_kill_is_ignored_then_removed(client):
    """A kill between creating the version and setting its alias leaves it marked incomplete: the retrain check
    does not count its snapshot, a registration with its key does not reuse it, and the cleanup of the next start
    deletes it (and only it)."""
    with mlflow.start_run():
        info = log_student(MLP(5, 2, hidden_dim=4), np.zeros((2, 5), np.float32))
    killed = str(mlflow.register_model(info.model_uri, MODEL, tags={"snapshot_hash": "h3", TRAINING_KEY_TAG: "k3",
                                                                  INCOMPLETE_TAG: "true"}).version)
    assert "h3" not in trained_snapshot_hashes(client, MODEL)
    again = register("k3", snapshot_hash="h3")
    assert again != killed and "h3" in trained_snapshot_hashes(client, MODEL)
    before = set(versions(client))
    assert delete_incomplete_versions(client) == [f"{MODEL}/{killed}"]
    assert set(versions(client)) == before - {killed}
