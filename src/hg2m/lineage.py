"""What a user clicking through the MLflow UI finds: the snapshot as an MLflow dataset on every training run, a
registered version whose source run trained it and whose description is a model card, and a parent run that
tells the story (parameters, description, comparison chart, training curves, the teacher's reliability, the
registered model's confusion matrix)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from hg2m.config import PROJECT_ROOT
from hg2m.evaluate import TEACHER_CANDIDATE

DIGEST_LENGTH = 32  # MLflow stores a dataset digest in 36 characters: the content hash's first 32 hex digits
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI opens it as model training
DESCRIPTION_TAG = "mlflow.note.content"  # a run's description in the UI
HISTOGRAM_BINS = 50  # reliability_figure


class GraphDataset(MetaDataset):
    """A graph snapshot as an MLflow dataset: digest = its content hash, schema = its columns per table, profile =
    node and edge counts per type (MetaDataset: MLflow stores the metadata, not the data)."""

    def __init__(self, name: str, content_hash: str, source: str, tables: dict[str, list[tuple[str, str]]],
                 profile: dict[str, int | str]):
        columns = [ColSpec(type=kind, name=f"{table}.{column}") for table, cols in tables.items()
                   for column, kind in cols]
        self._profile = {**profile, "content_hash": content_hash}
        super().__init__(resolve_dataset_source(source), name=name, digest=content_hash[:DIGEST_LENGTH],
                         schema=Schema(columns))

    @property
    def profile(self) -> dict:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def log_dataset_inputs(client: MlflowClient, run_ids: Iterable[str], datasets: list[GraphDataset],
                       context: str = "training") -> None:
    """Each dataset as an input of each run (the UI's Datasets column and the run page's Datasets used)."""
    inputs = [DatasetInput(d._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)]) for d in datasets]
    for run_id in dict.fromkeys(run_ids):
        client.log_inputs(run_id, datasets=inputs)


def git_commit() -> str:
    """The checkout's commit (with '-dirty' when files differ), or 'unknown' outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def score(summary: pd.DataFrame, model: str, setting: str, part: str) -> str:
    """'93.43 ± 0.23' (test Micro-F1 in %, mean ± std over seeds), or 'n/a'."""
    rows = summary[(summary["model"] == model) & (summary["setting"] == setting) & (summary["part"] == part)]
    if rows.empty:
        return "n/a"
    row = rows.iloc[0]
    return f"{100 * row['micro_f1_mean']:.2f} ± {100 * row['micro_f1_std']:.2f}"


def model_card(student: str, method: str, teacher: str, inputs: str, input_width: int, summary: pd.DataFrame,
               snapshot_hash: str, model_uri: str, reason: str) -> str:
    """The registered version's description: what it is, its scores beside the teacher's and the MLP's, the data,
    the input it expects, and how to load and serve it (Markdown; the registry renders it)."""
    lines = [f"**{student}**: an MLP student ({method}) distilled from a **{teacher}** teacher by hg2m. {reason}", "",
             "| model | test Micro-F1 (transductive) | new nodes (inductive, held-out test) |", "|---|---|---|"]
    for model in (student, teacher, "mlp"):
        lines.append(f"| {model} | {score(summary, model, 'transductive', 'test')} | "
                     f"{score(summary, model, 'inductive', 'test_held_out')} |")
    own = "the node's raw features" if inputs == "own" else (
        "the node's raw features followed by its one-hop neighbour inputs (run.py derive-inputs builds them from "
        "its edges)")
    lines += ["", f"Trained on snapshot `{snapshot_hash[:16]}…`. Input: {input_width} float32 columns per node, "
              f"{own}. Output: class, class name and probabilities.", "",
              f"Load: `mlflow.pyfunc.load_model(\"{model_uri}\")`. Serve: `python run.py serve --model {model_uri}`."]
    return "\n".join(lines)


def comparison_figure(summary: pd.DataFrame) -> Figure:
    """Teacher and students, test Micro-F1 mean with std error bars, transductive and new nodes side by side."""
    parts = [("transductive", "test", "transductive test"), ("inductive", "test_held_out", "new nodes")]
    models = list(dict.fromkeys(summary.loc[summary["method"] != TEACHER_CANDIDATE, "model"]))
    figure = Figure(figsize=(max(6.0, 0.9 * len(models) + 2), 3.8))
    axis = figure.subplots()
    width = 0.8 / len(parts)
    for i, (setting, part, label) in enumerate(parts):
        rows = summary[(summary["setting"] == setting) & (summary["part"] == part)].set_index("model")
        means = [100 * rows["micro_f1_mean"].get(m, np.nan) for m in models]
        stds = [100 * rows["micro_f1_std"].get(m, np.nan) for m in models]
        axis.bar(np.arange(len(models)) + i * width, means, width, yerr=stds, capsize=3, label=label)
    axis.set_xticks(np.arange(len(models)) + width / 2, models, rotation=30, ha="right")
    axis.set_ylabel("test Micro-F1 (%)")
    finite = [v for v in 100 * summary["micro_f1_mean"] if np.isfinite(v)]
    axis.set_ylim(max(0.0, min(finite) - 10) if finite else 0, 100)
    axis.legend()
    figure.tight_layout()
    return figure


def run_description(dataset: str, snapshot_hash: str, teacher: str, registered: str, version: str,
                    model_name: str, summary: pd.DataFrame) -> str:
    """The parent run's description: what ran on which data, what was registered, the headline scores."""
    return "\n".join([
        f"hg2m distill on **{dataset}** (snapshot `{snapshot_hash[:16]}…`): teacher **{teacher}**, registered "
        f"**{registered}** as `{model_name}` version {version}.", "",
        f"Test Micro-F1: {registered} {score(summary, registered, 'transductive', 'test')}, teacher "
        f"{score(summary, teacher, 'transductive', 'test')}, plain MLP {score(summary, 'mlp', 'transductive', 'test')}"
        f"; on new nodes {registered} {score(summary, registered, 'inductive', 'test_held_out')}, MLP "
        f"{score(summary, 'mlp', 'inductive', 'test_held_out')}.", "",
        "The charts and tables are this run's artifacts (comparison.png; training_curves.png, "
        "reliability_histogram.png and registered_confusion_matrix.png for the registered student's run; "
        "results.md); each step is a nested run, the teacher's and students' with their training curves."])


def reliability_figure(frame: pd.DataFrame) -> Figure:
    """Teacher confidence and entropy, reliable vs not (hg2m.distill.reliability.reliability_frame)."""
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots(1, 2)
    for axis, column in zip(axes, ("confidence", "entropy"), strict=True):
        for flag, label in ((True, "reliable"), (False, "not reliable")):
            axis.hist(frame.loc[frame["reliable"] == flag, column], bins=HISTOGRAM_BINS, alpha=0.6, label=label)
        axis.set_xlabel(f"teacher {column}")
        axis.set_ylabel("nodes")
    axes[0].legend()
    figure.tight_layout()
    return figure


def training_curves_figure(curves: dict[str, list[float]], run_key: str) -> Figure:
    """Validation accuracy per epoch of the teacher and each student on one run."""
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    for name, values in curves.items():
        axis.plot(range(1, len(values) + 1), [100 * v for v in values], label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation Micro-F1 (%)")
    axis.set_title(f"training curves, run {run_key}")
    axis.legend(fontsize="small")
    figure.tight_layout()
    return figure


def metric_values(client: MlflowClient, run_id: str, key: str) -> list[float]:
    """A run's metric history in step order."""
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def copy_artifact(client: MlflowClient, source_run: str, path: str, target_run: str, name: str) -> None:
    """Copy one artifact file of `source_run` to `target_run`'s root as `name`."""
    with tempfile.TemporaryDirectory() as folder:
        local = Path(client.download_artifacts(source_run, path, folder))
        renamed = local.with_name(name)
        local.rename(renamed)
        client.log_artifact(target_run, str(renamed))
