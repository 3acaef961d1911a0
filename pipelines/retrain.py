"""Retraining on a new graph snapshot, with a champion/challenger gate.

    newest snapshot in DIR --(already trained on? stop)--> distill pipeline on it (registers the challenger)
    --retrain_gate pipeline: gate--> challenger and champion scored on the new snapshot's test split;
    `champion` moves only if the challenger is better by more than `promotion.margin`.
Runs hold a file lock, so a scheduled retrain never overlaps another one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient
from zenml import pipeline
from zenml.client import Client
from zenml.enums import ExecutionMode

from hg2m.config import RunConfig
from hg2m.promotion import exclusive_lock, newest_snapshot
from hg2m.registry import CHAMPION_ALIAS, alias_version, trained_snapshot_hashes
from pipelines.distill import DistillOutcome, run_distill
from steps.promotion.gate import gate
from steps.tracking import tracker_settings


@pipeline(name="retrain_gate", enable_cache=False)
def retrain_gate(graph_artifact_id: str, model_name: str, challenger_version: str, champion_version: str | None,
                 margin: float) -> None:
    graph = Client().get_artifact_version(graph_artifact_id)
    gate(graph, model_name=model_name, challenger_version=challenger_version, champion_version=champion_version,
         margin=margin)


@dataclass
class RetrainOutcome:
    snapshot: Path
    snapshot_hash: str
    config: RunConfig
    distill: DistillOutcome | None = None  # None: the newest snapshot was trained on already
    decision: dict | None = None


def run_retrain(
    snapshot_dir: Path, config_for: Callable[[Path], RunConfig], tracking_uri: str, lock_path: Path,
    artifact_root: Path | None = None,
) -> RetrainOutcome:
    """Train on the newest snapshot in `snapshot_dir` unless some model version was trained on it already.

    `config_for(snapshot folder)` gives the run config for that snapshot. A failure (invalid snapshot,
    failed training) raises before the gate: the champion stays where it was.
    """
    with exclusive_lock(lock_path):
        folder, content_hash = newest_snapshot(snapshot_dir)
        config = config_for(folder)
        client, name = MlflowClient(tracking_uri), config.registered_model_name
        if content_hash in trained_snapshot_hashes(client, name):
            return RetrainOutcome(snapshot=folder, snapshot_hash=content_hash, config=config)
        champion = alias_version(client, name, CHAMPION_ALIAS)
        outcome = run_distill(config, tracking_uri, artifact_root)
        graph_id = str(outcome.run.steps["build_graph"].outputs["graph"][0].id)
        gated = retrain_gate.with_options(execution_mode=ExecutionMode.FAIL_FAST,
                                          settings=tracker_settings(config.experiment_name))
        run = gated(graph_artifact_id=graph_id, model_name=name, challenger_version=outcome.registration["version"],
                    champion_version=champion, margin=config.promotion.margin)
        decision = run.steps["gate"].outputs["gate_decision"][0].load()
        return RetrainOutcome(snapshot=folder, snapshot_hash=content_hash, config=config, distill=outcome,
                              decision=decision)
