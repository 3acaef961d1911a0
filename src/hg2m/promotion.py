"""The champion/challenger gate, and finding the snapshot a retrain should train on. Plain functions."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hg2m.data.graph import HeteroGraphData
from hg2m.data.snapshot import MANIFEST_FILE, read_snapshot
from hg2m.evaluate import score_logits


# Score differences carry float noise (0.81 - 0.80 > 0.01): a gain this close to the margin is a tie.
SCORE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger takes the `champion` alias, on which scores (test Micro-F1 of the new snapshot)."""

    promote: bool
    challenger_score: float
    champion_score: float | None
    margin: float
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def decide(challenger_score: float, champion_score: float | None, margin: float) -> GateDecision:
    """Promote when there is no champion, or when the challenger beats it by more than `margin`."""
    if champion_score is None:
        return GateDecision(True, challenger_score, None, margin, "no champion yet")
    gain = challenger_score - champion_score
    promote = gain > margin + SCORE_TOLERANCE
    verdict = "beats" if promote else "does not beat"
    reason = f"challenger {verdict} champion by more than {margin:+.4f} (difference {gain:+.4f})"
    return GateDecision(promote, challenger_score, champion_score, margin, reason)


def test_micro_f1(model: nn.Module, data: HeteroGraphData) -> float:
    """Micro-F1 of a student (features in, logits out) on the snapshot's test split."""
    model.eval()
    with torch.no_grad():
        logits = model(data.target_features())
    return score_logits(logits, data.labels, data.splits["test"], data.num_classes)["micro_f1"]


def snapshot_folders(snapshot_dir: Path) -> list[Path]:
    """The snapshot folders (with a manifest) directly under `snapshot_dir`, oldest first by name."""
    if not snapshot_dir.is_dir():
        raise FileNotFoundError(f"snapshot directory not found: {snapshot_dir}")
    return sorted(p for p in snapshot_dir.iterdir() if (p / MANIFEST_FILE).is_file())


def newest_snapshot(snapshot_dir: Path) -> tuple[Path, str]:
    """The newest snapshot folder (names give the order: name snapshots by date or number) and its
    content hash. Reading it checks the hash, so a folder changed after it was written is an error."""
    folders = snapshot_folders(snapshot_dir)
    if not folders:
        raise FileNotFoundError(f"no snapshot folders (with {MANIFEST_FILE}) in {snapshot_dir}")
    return folders[-1], read_snapshot(folders[-1]).manifest.content_hash


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
