"""Register the best student (by validation Micro-F1) in the MLflow model registry."""

import json
from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import get_step_context, log_metadata, step

from hg2m.data.graph import HeteroGraphData
from hg2m.registry import register_student
from steps.tracking import TRACKER, link_runs

SELECTION_METRIC = "val_micro_f1"


@step(experiment_tracker=TRACKER)
def register(
    graph: HeteroGraphData, comparison: pd.DataFrame, student_models: list[nn.Module], student_reports: list[dict],
    model_name: str, run_config: dict,
) -> Annotated[dict, "registration"]:
    link_runs()
    students = comparison[comparison["kind"] != "teacher"]
    best = students.loc[students[SELECTION_METRIC].idxmax()]
    index = [r["name"] for r in student_reports].index(best["model"])
    report = student_reports[index]
    mlflow.log_dict(run_config, "run_config.json")
    tags = {
        "student": report["name"], "method": report["method"], "snapshot_hash": graph.snapshot_hash,
        "selected_by": SELECTION_METRIC, "val_micro_f1": f"{best['val_micro_f1']:.4f}",
        "test_micro_f1": f"{best['test_micro_f1']:.4f}", "test_macro_f1": f"{best['test_macro_f1']:.4f}",
        "student_mlflow_run_id": report["mlflow_run_id"],
        "zenml_pipeline_run_id": str(get_step_context().pipeline_run.id),
        "student_config": json.dumps(report["config"], sort_keys=True),
    }
    metadata = {"snapshot_hash": graph.snapshot_hash, "student_config": report["config"], "run_config": run_config}
    registration = register_student(student_models[index], model_name, graph.target_features(), tags, metadata)
    result = {**registration.__dict__, "student": report["name"], "snapshot_hash": graph.snapshot_hash}
    log_metadata(metadata={"registered_model": result})
    return result
