"""Per-node reliability of the teacher's predictions (HG2M+), with a histogram in MLflow."""

from typing import Annotated

import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from zenml import log_metadata, step  # noqa: E402

from hg2m.data.graph import HeteroGraphData  # noqa: E402
from hg2m.distill.reliability import reliability_frame  # noqa: E402
from hg2m.teacher import frame_to_logits, frame_to_observed  # noqa: E402
from steps.tracking import TRACKER, link_runs  # noqa: E402

HISTOGRAM_BINS = 50


@step(experiment_tracker=TRACKER)
def reliability(
    graph: HeteroGraphData, teacher_logits: pd.DataFrame, ratio: float
) -> Annotated[pd.DataFrame, "reliability"]:
    """Train nodes the teacher gets right, plus low-entropy high-confidence observed val/test nodes."""
    link_runs()
    observed = frame_to_observed(teacher_logits)
    unlabelled = [idx[observed[idx]] for idx in (graph.splits["val"], graph.splits["test"])]
    frame = reliability_frame(frame_to_logits(teacher_logits), graph.labels, graph.splits["train"],
                              torch.cat(unlabelled), ratio)
    counts = {"reliable": int(frame["reliable"].sum()), "nodes": len(frame), "ratio": ratio}
    mlflow.log_metrics({"reliable_nodes": counts["reliable"]})
    log_metadata(metadata=counts)
    mlflow.log_figure(histogram(frame), "reliability_histogram.png")
    return frame


def histogram(frame: pd.DataFrame) -> plt.Figure:
    """Teacher confidence and entropy, reliable vs not."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, column in zip(axes, ("confidence", "entropy")):
        for flag, label in ((True, "reliable"), (False, "not reliable")):
            axis.hist(frame.loc[frame["reliable"] == flag, column], bins=HISTOGRAM_BINS, alpha=0.6, label=label)
        axis.set_xlabel(f"teacher {column}")
        axis.set_ylabel("nodes")
    axes[0].legend()
    figure.tight_layout()
    plt.close(figure)
    return figure
