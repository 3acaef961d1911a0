"""Register the best student (hg2m.evaluate.selection_scores) in the MLflow registry as the challenger."""

import json
from typing import Annotated

import mlflow
import pandas as pd
from zenml import get_step_context, log_metadata, step

from hg2m.contracts import Registration, StudentReport
from hg2m.evaluate import select_best, selection_reason, selection_rule, summary_table, teacher_name
from hg2m.lineage import model_card
from hg2m.plan import Run
from hg2m.registry import register_challenger, training_key
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def register(
    results: pd.DataFrame, student_reports: list[StudentReport], setting: str, held_out_fraction: float,
    model_name: str, run_config: dict,
) -> Annotated[Registration, "registration"]:
    """Registers the chosen student's model as its student step logged it (behind its input transform: it takes
    raw features), so that the version's source run is the student's run."""
    link_runs()
    name, seed = select_best(results, setting, held_out_fraction)
    run = Run(setting=setting, seed=seed)
    report = next(r for r in student_reports if r.name == name)
    rows = results[(results["model"] == name) & (results["setting"] == setting) & (results["seed"] == seed)]
    score = rows.set_index("part")
    mlflow.log_dict(run_config, "run_config.json")
    student_config = report.config.model_dump(mode="json")
    reason = selection_reason(results, setting, name, held_out_fraction)
    tags = {
        "student": name, "method": report.method, "teacher": teacher_name(results),
        "inputs": report.inputs, "input_width": str(report.input_width),
        "setting": setting, "seed": str(seed),
        "snapshot_hash": report.snapshot_hash, "selected_by": selection_rule(results, setting, held_out_fraction),
        "selection_reason": reason,
        "val_micro_f1": f"{score.loc['val', 'micro_f1']:.4f}", "test_micro_f1": f"{score.loc['test', 'micro_f1']:.4f}",
        "test_macro_f1": f"{score.loc['test', 'macro_f1']:.4f}", "student_mlflow_run_id": report.mlflow_run_id,
        "zenml_pipeline_run_id": str(get_step_context().pipeline_run.id),
        "student_config": json.dumps(student_config, sort_keys=True),
    }
    key = training_key(run_config, report.snapshot_hash, name, run.key)
    summary = summary_table(results)

    def card(version: str) -> str:
        return model_card(name, report.method, tags["teacher"], report.inputs, report.input_width, summary,
                          report.snapshot_hash, f"models:/{model_name}/{version}", reason)

    version = register_challenger(report.runs[run.key].model_uri, model_name, tags, key, describe=card)
    registration = Registration(name=model_name, version=version, model_uri=f"models:/{model_name}/{version}",
                                student=name, run=run, snapshot_hash=report.snapshot_hash, reason=reason)
    log_metadata(metadata={"registered_model": registration.model_dump(mode="json"),
                           "logged_model": report.runs[run.key].model_uri})
    return registration
