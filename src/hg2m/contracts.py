"""Typed hand-offs between pipeline steps: what one step writes and the next reads.

    FeatureTransforms  the per-type feature preprocessing fitted on the snapshot
    InputMatrix   a student input kind's layout and rows (own features, or with one-hop neighbour inputs)
    RunSplit      held-out and observed target nodes of one run (the one source of the inductive split)
    TeacherRun    the teacher's soft labels (logits of every target node) and, when a student needs
                  them, its embeddings on the observed graph
    TeacherReport, TeacherSelection, StudentReport, Registration, GateDecision   what a step did, for later
                  steps and people

Small ones are pydantic models (ZenML stores them as JSON); TeacherRun holds tensors and has its own files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict

from hg2m.config import InputKind, StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.data.transforms import FeatureTransform
from hg2m.plan import Run
from hg2m.student_inputs import InputLayout, build_inputs

CHALLENGER_ALIAS = "challenger"  # registry alias of the newest registered student
CHAMPION_ALIAS = "champion"  # registry alias of the student that serves; only the gate moves it
LOGIT_PREFIX = "logit_"
LOGITS_FILE = "soft_labels.parquet"
EMBEDDINGS_FILE = "embeddings.pt"
META_FILE = "teacher_run.json"
LAYOUT_FILE = "layout.json"
MATRIX_FILE = "inputs.pt"


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSplit(Contract):
    """Which target nodes a run holds out: none when transductive, a seeded share of test when inductive.

    Held-out nodes and all their edges are invisible to the teacher's training, the reliability scores and
    the students; only evaluation reads them."""

    run: Run
    num_nodes: int
    hidden: list[int]  # sorted ids

    def hidden_ids(self) -> torch.Tensor:
        """(H,) int64 sorted ids of the held-out nodes."""
        return torch.tensor(self.hidden, dtype=torch.int64)

    def observed(self) -> torch.Tensor:
        """(N,) bool: True for the nodes training may see."""
        mask = torch.ones(self.num_nodes, dtype=torch.bool)
        mask[self.hidden_ids()] = False
        return mask


@dataclass
class TeacherRun:
    """A trained teacher's signals for one run.

    logits: (N, C) for every target node; observed nodes' come from the observed graph, held-out nodes'
    from the full graph (only evaluation reads those). embeddings: node type -> (N_t, d) hidden states on
    the observed graph, for the types the teacher embeds; None unless the plan needs them (HIRE).
    """

    logits: torch.Tensor
    embeddings: dict[str, torch.Tensor] | None = None

    def soft_label_frame(self) -> pd.DataFrame:
        """`id` and one `logit_<c>` column per class: the soft-label file anyone can read."""
        frame = pd.DataFrame(self.logits.numpy(), columns=[f"{LOGIT_PREFIX}{c}" for c in range(self.logits.shape[1])])
        frame.insert(0, "id", np.arange(len(frame), dtype=np.int64))
        return frame

    @staticmethod
    def logits_from_frame(frame: pd.DataFrame) -> torch.Tensor:
        """Inverse of soft_label_frame; rows are put back in id order."""
        columns = [c for c in frame.columns if c.startswith(LOGIT_PREFIX)]
        return torch.tensor(frame.sort_values("id")[columns].to_numpy(), dtype=torch.float32)

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.soft_label_frame().to_parquet(folder / LOGITS_FILE, index=False)
        if self.embeddings is not None:
            torch.save(self.embeddings, folder / EMBEDDINGS_FILE)
        (folder / META_FILE).write_text(json.dumps({"has_embeddings": self.embeddings is not None}))

    @classmethod
    def load(cls, folder: Path) -> TeacherRun:
        folder = Path(folder)
        logits = cls.logits_from_frame(pd.read_parquet(folder / LOGITS_FILE))
        has_embeddings = json.loads((folder / META_FILE).read_text())["has_embeddings"]
        return cls(logits=logits, embeddings=torch.load(folder / EMBEDDINGS_FILE) if has_embeddings else None)


class FeatureTransforms(Contract):
    """The preprocessing fitted on a snapshot: node type -> its feature transform (types with features)."""

    by_type: dict[str, FeatureTransform]


@dataclass
class InputMatrix:
    """A student input kind on this snapshot: its column layout and every target node's input row (N, width),
    dense or sparse COO, on the full graph. A run that holds nodes out gets its own rows (`for_split`)."""

    layout: InputLayout
    matrix: torch.Tensor

    def for_split(self, data: HeteroGraphData, split: RunSplit) -> torch.Tensor:
        """Rows for this run: observed nodes' from the observed graph, held-out nodes' from all their edges."""
        if not split.hidden:
            return self.matrix
        return build_inputs(data, self.layout, hidden=split.hidden_ids())

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LAYOUT_FILE).write_text(self.layout.model_dump_json())
        torch.save(self.matrix, folder / MATRIX_FILE)

    @classmethod
    def load(cls, folder: Path) -> InputMatrix:
        folder = Path(folder)
        return cls(layout=InputLayout.model_validate_json((folder / LAYOUT_FILE).read_text()),
                   matrix=torch.load(folder / MATRIX_FILE))


class TeacherReport(Contract):
    model: str
    run: Run
    mlflow_run_id: str
    best_epoch: int
    epochs_run: int
    hidden_nodes: int
    micro_f1: dict[str, float]  # by split of the graph (train, val, test), on the run's logits


class TeacherSelection(Contract):
    """`teacher: auto`'s choice among the candidate teachers, trained on one run."""

    chosen: str
    run: Run
    val_micro_f1: dict[str, float]  # by candidate
    test_micro_f1: dict[str, float]  # by candidate; reported, never used to choose
    reason: str

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"teacher": list(self.val_micro_f1),
                             "chosen": [name == self.chosen for name in self.val_micro_f1],
                             "val_micro_f1": list(self.val_micro_f1.values()),
                             "test_micro_f1": [self.test_micro_f1[name] for name in self.val_micro_f1]})


class StudentRunReport(Contract):
    best_epoch: int
    epochs_run: int
    metapath_edges: list[int]  # kept directed edges per meta-path of the student's plan
    model_uri: str  # the run's model as served (raw features in), logged in the student's MLflow run


class StudentReport(Contract):
    name: str
    method: str
    inputs: InputKind
    input_width: int  # columns of the served model's input rows
    snapshot_hash: str
    config: StudentConfig
    mlflow_run_id: str
    runs: dict[str, StudentRunReport]  # by Run.key
    tuned_params: dict[str, float | bool] = {}  # the Optuna search's best values, already in `config`


class Registration(Contract):
    """A student version added to the MLflow model registry as the `challenger`."""

    name: str
    version: str
    model_uri: str
    student: str
    run: Run
    snapshot_hash: str
    reason: str  # why this student: its validation score beside the teacher's and the plain MLP's


class GateDecision(Contract):
    """Whether the challenger takes the `champion` alias, on which scores (test Micro-F1 of the snapshot)."""

    promote: bool
    reason: str
    model_name: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    margin: float
    snapshot_hash: str
    evaluation_runs: dict[str, str] = {}  # version -> MLflow run of its evaluation (confusion matrix, F1, ...)
