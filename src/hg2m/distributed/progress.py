"""Epoch records from a distributed job's rank 0 to the launching process: rank 0 appends one JSON line per epoch
to the job folder's `progress.jsonl`, and the launcher hands them to its callback (the progress bar, MLflow, an
Optuna pruner) as they come."""

from __future__ import annotations

import json
from pathlib import Path

from hg2m.train import EpochCallback

PROGRESS_FILE = "progress.jsonl"


class ProgressReader:
    """Hands the epochs rank 0 records to the caller's callback, as they come (call `poll` often)."""

    def __init__(self, job_dir: Path, on_epoch: EpochCallback | None):
        self.path, self.on_epoch, self.seen = job_dir / PROGRESS_FILE, on_epoch, 0

    def poll(self) -> None:
        if self.on_epoch is None or not self.path.exists():
            return
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1].splitlines()  # a line being written waits for the next poll
        for line in complete[self.seen:]:
            record = json.loads(line)
            self.on_epoch(record.pop("epoch"), record)
        self.seen = len(complete)


def progress_writer(job_dir: Path, rank: int) -> EpochCallback | None:
    """Rank 0's callback that records its epochs; None on the other ranks."""
    if rank != 0:
        return None
    path = job_dir / PROGRESS_FILE

    def record(epoch: int, values: dict[str, float]) -> None:
        with path.open("a") as out:
            out.write(json.dumps({"epoch": epoch, **values}) + "\n")

    return record
