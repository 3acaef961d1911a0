"""Score teacher and students on the same splits and log one comparison to MLflow."""

from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import step

from hg2m.data.graph import HeteroGraphData
from hg2m.evaluate import comparison_table, markdown_table, score_logits
from hg2m.student import predict_logits
from hg2m.teacher import frame_to_logits
from hg2m.tracking import log_split_metrics
from steps.tracking import TRACKER, link_runs, parent_run_id

EVAL_SPLITS = ("val", "test")


def score_rows(name: str, kind: str, logits, graph: HeteroGraphData) -> list[dict]:
    return [{"model": name, "kind": kind, "split": split,
             **score_logits(logits, graph.labels, graph.splits[split], graph.num_classes)} for split in EVAL_SPLITS]


@step(experiment_tracker=TRACKER)
def evaluate(
    graph: HeteroGraphData, teacher_logits: pd.DataFrame, student_models: list[nn.Module], student_reports: list[dict]
) -> Annotated[pd.DataFrame, "comparison"]:
    """Students are scored from their features alone (no graph), the teacher from its logits."""
    link_runs()
    rows = score_rows("teacher", "teacher", frame_to_logits(teacher_logits), graph)
    features = graph.target_features()
    for model, report in zip(student_models, student_reports, strict=True):
        rows += score_rows(report["name"], report["method"], predict_logits(model, features), graph)
    table = comparison_table(rows)
    for target_run in (None, parent_run_id()):
        for row in table.to_dict("records"):
            metrics = {s: {m.split("_", 1)[1]: v for m, v in row.items() if m.startswith(f"{s}_")} for s in EVAL_SPLITS}
            log_split_metrics(metrics, prefix=f"{row['model']}.", run_id=target_run)
        text = markdown_table(table)
        if target_run is None:
            mlflow.log_text(text, "comparison.md")
            mlflow.log_text(table.to_csv(index=False), "comparison.csv")
        else:
            mlflow.tracking.MlflowClient().log_text(target_run, text, "comparison.md")
    return table
