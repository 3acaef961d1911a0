"""Per-node reliability of the teacher's predictions (HG2M+), with a histogram in MLflow."""

from typing import Annotated

import mlflow
import pandas as pd
from zenml import log_metadata, step

from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.reliability import reliability_frame, unlabelled_nodes
from hg2m.lineage import reliability_figure
from steps.tracking import TRACKER, link_runs


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
    mlflow.log_figure(reliability_figure(frame), "reliability_histogram.png")
    return frame
