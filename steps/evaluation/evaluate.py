"""Score teacher and students for every (setting, seed); log the results table to MLflow."""

from typing import Annotated

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from torch import nn
from zenml import step

from hg2m.data.graph import HeteroGraphData
from hg2m.distill.signals import run_key
from hg2m.evaluate import display_table, markdown_table, result_rows, score_parts, summary_table
from hg2m.inductive import evaluation_parts, hidden_nodes
from hg2m.student import predict_logits
from hg2m.teacher import frame_to_logits
from steps.tracking import TRACKER, link_runs, parent_run_id


@step(experiment_tracker=TRACKER)
def evaluate(
    graph: HeteroGraphData, runs: list[tuple[str, int]], held_out_fraction: float, teacher_name: str,
    teacher_logits: list[pd.DataFrame], student_models: list[nn.ModuleDict], student_reports: list[dict],
) -> tuple[Annotated[pd.DataFrame, "results"], Annotated[pd.DataFrame, "summary"]]:
    """Students are scored from their features alone (no graph), the teacher from its logits."""
    link_runs()
    features = graph.target_features()
    rows = []
    for index, (setting, seed) in enumerate(runs):
        parts = evaluation_parts(graph, hidden_nodes(graph, setting, held_out_fraction, seed))

        def scores(logits):
            return score_parts(logits, graph.labels, parts, graph.num_classes, held_out_fraction)

        rows += result_rows(teacher_name, "teacher", setting, seed, scores(frame_to_logits(teacher_logits[index])))
        for models, report in zip(student_models, student_reports, strict=True):
            logits = predict_logits(models[run_key(setting, seed)], features)
            rows += result_rows(report["name"], report["method"], setting, seed, scores(logits))
    results = pd.DataFrame(rows)
    summary = summary_table(results)
    log_tables(results, summary)
    return results, summary


def log_tables(results: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Markdown and CSV on this step's run and on the pipeline's parent run; headline metrics as metrics."""
    text = markdown_table(display_table(summary))
    files = {"results.md": text, "results.csv": results.to_csv(index=False), "summary.csv": summary.to_csv(index=False)}
    parent = parent_run_id()
    for name, content in files.items():
        mlflow.log_text(content, name)
        if parent:
            MlflowClient().log_text(parent, content, name)
    for row in summary.itertuples(index=False):
        key = f"{row.model}.{row.setting}.{row.part}.micro_f1_mean"
        mlflow.log_metric(key, row.micro_f1_mean)
        if parent:
            MlflowClient().log_metric(parent, key, row.micro_f1_mean)
