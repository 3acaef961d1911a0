"""Retraining on a new graph snapshot: the distill pipeline, with a "trained on this snapshot already?" check in front.

    newest snapshot in DIR (hashed once) --(some model version was trained on this hash? stop)--> distill
    pipeline on it: registers the challenger, and its gate moves `champion` only if the challenger is better
    by more than `promotion.margin`.
Runs hold a file lock, so a scheduled retrain never overlaps another one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from hg2m.config import RunConfig
from hg2m.promotion import exclusive_lock, newest_snapshot
from hg2m.registry import trained_snapshot_hashes
from pipelines.distill import DistillRun, run_distill


@dataclass
class RetrainOutcome:
    snapshot: Path
    snapshot_hash: str
    config: RunConfig
    distill: DistillRun | None = None  # None: the newest snapshot was trained on already


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
        if content_hash in trained_snapshot_hashes(MlflowClient(tracking_uri), config.registered_model_name):
            return RetrainOutcome(snapshot=folder, snapshot_hash=content_hash, config=config)
        outcome = run_distill(config, tracking_uri, artifact_root, fingerprint=content_hash)
        return RetrainOutcome(snapshot=folder, snapshot_hash=content_hash, config=config, distill=outcome)
