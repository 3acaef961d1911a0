"""Register the best student (mean validation Micro-F1 over seeds) in the MLflow model registry."""

import json
from typing import Annotated

import mlflow
import pandas as pd
from torch import nn
from zenml import get_step_context, log_metadata, step

from hg2m.data.graph import HeteroGraphData
from hg2m.distill.signals import run_key
from hg2m.registry import register_student
from steps.tracking import TRACKER, link_runs

SELECTION_METRIC = "micro_f1"


def select_best(results: pd.DataFrame, setting: str) -> tuple[str, int]:
    """(student, seed): the student with the best mean val Micro-F1 in `setting`, and its best seed."""
    val = results[(results["method"] != "teacher") & (results["part"] == "val") & (results["setting"] == setting)]
    best = val.groupby("model", sort=False)[SELECTION_METRIC].mean().idxmax()
    runs = val[val["model"] == best]
    return best, int(runs.loc[runs[SELECTION_METRIC].idxmax(), "seed"])


@step(experiment_tracker=TRACKER)
def register(
    graph: HeteroGraphData, results: pd.DataFrame, student_models: list[nn.ModuleDict], student_reports: list[dict],
    setting: str, model_name: str, run_config: dict,
) -> Annotated[dict, "registration"]:
    link_runs()
    name, seed = select_best(results, setting)
    index = [r["name"] for r in student_reports].index(name)
    report = student_reports[index]
    model = student_models[index][run_key(setting, seed)]
    rows = results[(results["model"] == name) & (results["setting"] == setting) & (results["seed"] == seed)]
    score = rows.set_index("part")
    mlflow.log_dict(run_config, "run_config.json")
    tags = {
        "student": name, "method": report["method"], "teacher": run_config["teacher"]["model"],
        "setting": setting, "seed": str(seed),
        "snapshot_hash": graph.snapshot_hash, "selected_by": f"mean val {SELECTION_METRIC} over seeds",
        "val_micro_f1": f"{score.loc['val', 'micro_f1']:.4f}", "test_micro_f1": f"{score.loc['test', 'micro_f1']:.4f}",
        "test_macro_f1": f"{score.loc['test', 'macro_f1']:.4f}", "student_mlflow_run_id": report["mlflow_run_id"],
        "zenml_pipeline_run_id": str(get_step_context().pipeline_run.id),
        "student_config": json.dumps(report["config"], sort_keys=True),
    }
    metadata = {"snapshot_hash": graph.snapshot_hash, "student_config": report["config"], "run_config": run_config}
    registration = register_student(model, model_name, graph.target_features(), tags, metadata,
                                    run_config["dataset"]["class_names"])
    result = {**registration.__dict__, "student": name, "seed": seed, "setting": setting,
              "snapshot_hash": graph.snapshot_hash}
    log_metadata(metadata={"registered_model": result})
    return result
