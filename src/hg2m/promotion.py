"""Who is champion: the one place the `champion` alias moves; and finding the snapshot a retrain trains on.

Registration only ever adds a `challenger` (hg2m.registry). The gate then evaluates the challenger and the
current champion on the snapshot's test split with MLflow's evaluation and moves `champion` when there is
none yet, or when MLflow's validation against the champion as baseline passes (at least the margin better).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.metrics import MetricValue
from mlflow.models import EvaluationMetric, EvaluationResult, MetricThreshold, make_metric
from mlflow.models.evaluation.validation import ModelValidationFailedException
from mlflow.tracking import MlflowClient

from hg2m.contracts import CHAMPION_ALIAS, GateDecision, Registration
from hg2m.data.graph import HeteroGraphData
from hg2m.data.snapshot import MANIFEST_FILE, SnapshotError, verified_content_hash
from hg2m.evaluate import classification_metrics
from hg2m.labels import bitmasks, decode_bitmasks, is_multi_label, predict
from hg2m.registry import alias_version, registered_layout, served_inputs
from hg2m.serving import load_student_module

GATE_METRIC = "micro_f1"  # hg2m's test Micro-F1 (hg2m.evaluate), an extra metric of MLflow's evaluation


def micro_f1_metric(num_classes: int, multi_label: bool) -> EvaluationMetric:
    """The gate's metric for MLflow's evaluation: Micro-F1 of class predictions, or of bitmask-encoded sets."""

    def eval_fn(predictions: pd.Series, targets: pd.Series, metrics: dict) -> MetricValue:
        y_pred, y_true = predictions.to_numpy(), targets.to_numpy()
        if multi_label:
            y_pred, y_true = decode_bitmasks(y_pred, num_classes), decode_bitmasks(y_true, num_classes)
        score = classification_metrics(y_true, y_pred, num_classes)["micro_f1"]
        return MetricValue(aggregate_results={GATE_METRIC: score})

    return make_metric(eval_fn=eval_fn, greater_is_better=True, name=GATE_METRIC)


def decide(challenger: EvaluationResult, champion: EvaluationResult | None, margin: float,
           already_champion: bool = False) -> tuple[bool, str]:
    """(promote, reason): promote when there is no champion, or when MLflow's validation of the challenger's
    evaluation against the champion's as baseline passes: test Micro-F1 at least `margin` higher. MLflow's
    `min_absolute_change` must be positive; a margin <= 0 (promote unless worse by more than -margin) is the
    absolute floor champion + margin instead."""
    if already_champion:
        return False, "the challenger is the champion already"
    if champion is None:
        return True, "no champion yet"
    baseline = champion.metrics[GATE_METRIC]
    rule = MetricThreshold(min_absolute_change=margin, greater_is_better=True) if margin > 0 else \
        MetricThreshold(threshold=baseline + margin, greater_is_better=True)
    gain = challenger.metrics[GATE_METRIC] - baseline
    try:
        mlflow.validate_evaluation_results({GATE_METRIC: rule}, challenger, champion)
    except ModelValidationFailedException:
        return False, f"challenger does not beat champion by at least {margin:+.4f} (difference {gain:+.4f})"
    return True, f"challenger beats champion by at least {margin:+.4f} (difference {gain:+.4f})"


GATE_BATCH_VALUES = 2**26  # 256 MiB of float32 rows per batch


def test_predictions(model_uri: str, data: HeteroGraphData, model_graph: HeteroGraphData) -> np.ndarray:
    """A registered student's class predictions (multi-label: bitmasks of the predicted sets, hg2m.labels) for
    the snapshot's test split, fed as it is served: raw own features and, for a student with neighbour inputs,
    those derived from each test node's edges (hg2m.registry.served_inputs)."""
    test, layout = data.splits["test"], registered_layout(model_uri, data)
    module = load_student_module(model_uri)
    # the served model takes dense rows: with neighbour-id bags a row is tens of thousands of columns wide, so
    # the test nodes go in batches that keep one batch's rows to about GATE_BATCH_VALUES numbers
    batch = max(1, GATE_BATCH_VALUES // max(layout.width, 1))
    rows = served_inputs(layout, data, model_graph)
    with torch.no_grad():
        logits = torch.cat([module(rows(test[i : i + batch])) for i in range(0, len(test), batch)])
    return as_label_column(predict(logits, is_multi_label(data.labels)))


def as_label_column(labels: torch.Tensor) -> np.ndarray:
    """(n,) classes as they are, (n, C) indicators as bitmasks: one value per node, as in a snapshot."""
    return bitmasks(labels) if labels.ndim == 2 else labels.numpy()


def evaluate_version(name: str, version: str, data: HeteroGraphData,
                     model_graph: HeteroGraphData) -> tuple[EvaluationResult, str]:
    """MLflow's evaluation of one version's test predictions with the gate's Micro-F1 (single-label also MLflow's
    classifier metrics and confusion matrix, which know no label sets), in a nested run named after the
    version; returns it and that run's id."""
    multi_label = is_multi_label(data.labels)
    predictions = test_predictions(f"models:/{name}/{version}", data, model_graph)
    frame = pd.DataFrame({"prediction": predictions, "label": as_label_column(data.labels[data.splits["test"]])})
    with mlflow.start_run(run_name=f"gate: {name} version {version}", nested=True) as run:
        mlflow.set_tags({"model_name": name, "model_version": version, "snapshot_hash": data.snapshot_hash})
        result = mlflow.models.evaluate(data=frame, predictions="prediction", targets="label",
                                        model_type=None if multi_label else "classifier",
                                        extra_metrics=[micro_f1_metric(data.num_classes, multi_label)])
    return result, run.info.run_id


def run_gate(client: MlflowClient, registration: Registration, data: HeteroGraphData, model_graph: HeteroGraphData,
             margin: float) -> GateDecision:
    """Evaluate the challenger and the current champion on `data`'s test split with MLflow's evaluation, decide,
    move `champion` if the challenger wins, and record the decision on both versions (`gate_*` tags)."""
    name, challenger = registration.name, registration.version
    champion = alias_version(client, name, CHAMPION_ALIAS)
    evaluated = {version: evaluate_version(name, version, data, model_graph)
                 for version in {challenger, champion} - {None}}
    result = {version: r for version, (r, _) in evaluated.items()}
    score = {version: float(r.metrics[GATE_METRIC]) for version, r in result.items()}
    promote, reason = decide(result[challenger], result.get(champion), margin, already_champion=champion == challenger)
    if promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, challenger)
    decision = GateDecision(promote=promote, reason=reason, model_name=name, challenger_version=challenger,
                            challenger_score=score[challenger], champion_version=champion,
                            champion_score=score.get(champion), margin=margin, snapshot_hash=data.snapshot_hash,
                            evaluation_runs={version: run_id for version, (_, run_id) in evaluated.items()})
    for key in ("promote", "challenger_score", "champion_score", "reason", "champion_version"):
        client.set_model_version_tag(name, challenger, f"gate_{key}", str(getattr(decision, key)))
    if champion not in (None, challenger):  # the champion's side of the same comparison
        client.set_model_version_tag(name, champion, "gate_last_challenge",
                                     f"version {challenger} on snapshot {data.snapshot_hash[:12]}: {reason}; "
                                     f"this version scored {score[champion]:.4f}, the challenger {score[challenger]:.4f}")
    return decision


def snapshot_folders(snapshot_dir: Path) -> list[Path]:
    """The folders directly under `snapshot_dir` (hidden ones aside), oldest first by name."""
    if not snapshot_dir.is_dir():
        raise SnapshotError(f"snapshot directory not found: {snapshot_dir}")
    return sorted(p for p in snapshot_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def newest_snapshot(snapshot_dir: Path) -> tuple[Path, str]:
    """The newest snapshot folder (names give the order: name snapshots by date or number) and its content
    hash, computed from its tables and checked against its manifest: a newest folder without a manifest, or
    unreadable, or changed after it was written, is an error, never a reason to fall back to an older one."""
    folders = snapshot_folders(snapshot_dir)
    if not folders:
        raise SnapshotError(f"no snapshot folders in {snapshot_dir}")
    newest = folders[-1]
    if not (newest / MANIFEST_FILE).is_file():
        raise SnapshotError(f"{newest}: the newest folder in {snapshot_dir} has no {MANIFEST_FILE} (a snapshot "
                                "writes it last: still being copied, or broken); not falling back to an older one. "
                                "Write snapshots elsewhere and move them in when complete, or start their names "
                                "with '.' while they are written")
    return newest, verified_content_hash(newest)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking file lock, so that two retrains never overlap."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise RuntimeError(f"another retrain holds {path}; not starting a second one") from err
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
