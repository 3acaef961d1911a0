"""Per-node reliability of the teacher's predictions (HG2M+), with a histogram in MLflow."""

from typing import Annotated

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from zenml import log_metadata, step

from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.reliability import reliability_frame, unlabelled_nodes
from steps.tracking import TRACKER, link_runs

HISTOGRAM_BINS = 50


@step(experiment_tracker=TRACKER)
def reliability(
    graph: HeteroGraphData, teacher_run: TeacherRun, split: RunSplit, ratio: float
) -> Annotated[pd.DataFrame, "reliability"]:
    """Train nodes the teacher gets right, plus low-entropy high-confidence observed val/test nodes."""
    link_runs()
    unlabelled = unlabelled_nodes(graph.splits, split.observed())
    frame = reliability_frame(teacher_run.logits, graph.labels, graph.splits["train"], unlabelled, ratio)
    counts = {"reliable": int(frame["reliable"].sum()), "nodes": len(frame), "ratio": ratio}
    mlflow.log_metrics({"reliable_nodes": counts["reliable"]})
    log_metadata(metadata=counts)
    mlflow.log_figure(histogram(frame), "reliability_histogram.png")
    return frame


def histogram(frame: pd.DataFrame) -> Figure:
    """Teacher confidence and entropy, reliable vs not (a pyplot-free figure: no display backend needed)."""
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots(1, 2)
    for axis, column in zip(axes, ("confidence", "entropy")):
        for flag, label in ((True, "reliable"), (False, "not reliable")):
            axis.hist(frame.loc[frame["reliable"] == flag, column], bins=HISTOGRAM_BINS, alpha=0.6, label=label)
        axis.set_xlabel(f"teacher {column}")
        axis.set_ylabel("nodes")
    axes[0].legend()
    figure.tight_layout()
    return figure
