"""Score teacher and students for every run; log the results table to MLflow."""

from typing import Annotated

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from torch import nn
from zenml import step

from hg2m.contracts import InputMatrix, RunSplit, StudentReport, TeacherReport, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.evaluate import (
    TEACHER,
    TEACHER_CANDIDATE,
    candidate_model,
    display_table,
    markdown_table,
    result_rows,
    score_parts,
    summary_table,
    teacher_warnings,
)
from hg2m.inductive import evaluation_parts
from hg2m.student import predict_logits
from steps.tracking import TRACKER, link_runs, parent_run_id


@step(experiment_tracker=TRACKER)
def evaluate(
    graph: HeteroGraphData, held_out_fraction: float, splits: list[RunSplit], teacher_runs: list[TeacherRun],
    teacher_reports: list[TeacherReport], student_models: list[nn.ModuleDict], student_reports: list[StudentReport],
    student_inputs: list[InputMatrix], candidate_runs: list[TeacherRun], candidate_reports: list[TeacherReport],
) -> tuple[Annotated[pd.DataFrame, "results"], Annotated[pd.DataFrame, "summary"]]:
    """Students are scored from their inputs alone (no message passing), the teacher from its logits.
    `teacher_runs` and `teacher_reports` are aligned with `splits`, `student_models` with `student_reports`;
    `student_inputs` holds one matrix per input kind (each student's report names its kind). With `teacher: auto`,
    the candidate teachers (aligned `candidate_runs` and `candidate_reports`) get rows of their own."""
    link_runs()
    by_kind = {inputs.layout.kind: inputs for inputs in student_inputs}
    parts = {split.run.key: evaluation_parts(graph, split) for split in splits}
    rows = []

    def scores(logits, run):
        return score_parts(logits, graph.labels, parts[run.key], graph.num_classes, held_out_fraction)

    for split, teacher_run, teacher_report in zip(splits, teacher_runs, teacher_reports, strict=True):
        run = split.run
        rows += result_rows(teacher_report.model, TEACHER, run.setting, run.seed, scores(teacher_run.logits, run))
        for models, report in zip(student_models, student_reports, strict=True):
            logits = predict_logits(models[run.key], by_kind[report.inputs].for_split(graph, split))
            rows += result_rows(report.name, report.method, run.setting, run.seed, scores(logits, run))
    for candidate_run, report in zip(candidate_runs, candidate_reports, strict=True):
        run = report.run
        rows += result_rows(candidate_model(report.model), TEACHER_CANDIDATE, run.setting, run.seed,
                            scores(candidate_run.logits, run))
    results = pd.DataFrame(rows)
    summary = summary_table(results)
    log_tables(results, summary)
    warnings = teacher_warnings(results)
    mlflow.set_tag("teacher_below_mlp", str(bool(warnings)))
    if warnings:
        mlflow.log_text("\n".join(warnings), "teacher_warnings.txt")
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
