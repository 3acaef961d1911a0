"""Retraining on a growing DBLP, end to end: nothing to do, a gated promotion both ways, a bad snapshot."""

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from hg2m.config import CONFIG_DIR, load_run_config
from hg2m.contracts import CHAMPION_ALIAS
from hg2m.data.growth import snapshot_sequence, write_sequence
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import SnapshotError
from hg2m.registry import alias_version
from pipelines.retrain import run_retrain

pytestmark = pytest.mark.e2e

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"
QUICK = {"teacher.optim.max_epochs": 30, "students.*.optim.max_epochs": 200, "device": "cpu",
         "evaluation.seeds": [0], "evaluation.settings": ["transductive"],
         "tracking.registered_model_prefix": "retrain-test"}
MODEL = "retrain-test-dblp"


def config_for(margin: float):
    def make(folder: Path):
        # a fixed teacher: these tests are about the gate, and teacher: auto would train four per snapshot
        config = load_run_config(DISTILL, "dblp", {**QUICK, "promotion.margin": margin}, snapshot=folder,
                                 teacher="rgcn")
        return config.model_copy(update={"students": [s for s in config.students if s.name in ("mlp", "hg2m")]})
    return make


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """Three DBLP snapshots (60%, 80%, 100% of every node type), written to a staging folder."""
    full = load_raw_dataset(load_run_config(DISTILL, "dblp").dataset)
    staging = tmp_path_factory.mktemp("staging")
    return write_sequence(snapshot_sequence(full, [0.6, 0.8, 1.0]), staging, "dblp")


def arrive(folder: Path, inbox: Path) -> None:
    shutil.copytree(folder, inbox / folder.name)


def test_retrain_gate_and_failures(grown, mlflow_uri, tmp_path):
    inbox, lock, client = tmp_path / "inbox", tmp_path / "retrain.lock", MlflowClient(mlflow_uri)
    inbox.mkdir()

    def retrain(margin: float):
        return run_retrain(inbox, config_for(margin), mlflow_uri, lock, tmp_path / "artifacts")

    arrive(grown[0], inbox)
    first_run = retrain(0.0)
    first = first_run.distill.gate_decision
    assert first.promote and first.champion_version is None
    champion = alias_version(client, MODEL, CHAMPION_ALIAS)
    assert champion == first.challenger_version

    again = retrain(0.0)  # unchanged: the newest snapshot was trained on already
    assert again.distill is None and again.snapshot_hash == first_run.snapshot_hash
    assert len(client.search_model_versions(f"name='{MODEL}'")) == 1

    arrive(grown[1], inbox)
    rejected = retrain(1.0)  # a gain of more than 1.0 in Micro-F1 is impossible: the gate must say no
    decision = rejected.distill.gate_decision
    assert not decision.promote and decision.champion_version == champion
    assert 0 < decision.champion_score <= 1
    assert alias_version(client, MODEL, CHAMPION_ALIAS) == champion
    tags = client.get_model_version(MODEL, decision.challenger_version).tags
    assert tags["gate_promote"] == "False" and tags["snapshot_hash"] == rejected.snapshot_hash
    champion_tags = client.get_model_version(MODEL, champion).tags  # the comparison is visible on both versions
    assert champion_tags["gate_last_challenge"].startswith(f"version {decision.challenger_version} on snapshot")
    evaluations = client.search_runs(  # MLflow's evaluation of each version, beside the gate's run
        [client.get_run(rejected.distill.run.steps["gate"].run_metadata["mlflow_run_id"]).info.experiment_id],
        filter_string=f"tags.snapshot_hash = '{rejected.snapshot_hash}' and tags.model_name = '{MODEL}'")
    scores = {r.data.tags["model_version"]: r.data.metrics["micro_f1"] for r in evaluations}
    assert scores == {decision.challenger_version: pytest.approx(decision.challenger_score),
                      champion: pytest.approx(decision.champion_score)}

    arrive(grown[2], inbox)
    promoted = retrain(-1.0).distill.gate_decision  # any challenger beats the champion by more than -1.0
    assert promoted.promote
    assert alias_version(client, MODEL, CHAMPION_ALIAS) == promoted.challenger_version

    versions = {v.version for v in client.search_model_versions(f"name='{MODEL}'")}
    bad = inbox / "dblp-999"
    shutil.copytree(grown[2], bad)
    (bad / "edges" / "paper_author.parquet").write_bytes(b"not parquet")
    with pytest.raises(SnapshotError, match="paper_author.parquet"):
        retrain(-1.0)
    assert {v.version for v in client.search_model_versions(f"name='{MODEL}'")} == versions
    assert alias_version(client, MODEL, CHAMPION_ALIAS) == promoted.challenger_version
