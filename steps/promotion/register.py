"""Register the best student (mean validation Micro-F1 over seeds) in the MLflow registry as the challenger."""

import json
from typing import Annotated

import mlflow
import pandas as pd
import torch
from torch import nn
from zenml import get_step_context, log_metadata, step

from hg2m.contracts import FeatureTransforms, InputMatrix, Registration, StudentReport
from hg2m.data.graph import HeteroGraphData
from hg2m.evaluate import SELECTION_METRIC, select_best, selection_reason, summary_table, teacher_name
from hg2m.lineage import model_card
from hg2m.plan import Run
from hg2m.registry import EXAMPLE_ROWS, register_challenger, served_inputs, served_student, training_key
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def register(
    graph: HeteroGraphData, model_graph: HeteroGraphData, transforms: FeatureTransforms, results: pd.DataFrame,
    student_models: list[nn.ModuleDict], student_reports: list[StudentReport], student_inputs: list[InputMatrix],
    setting: str, model_name: str, run_config: dict,
) -> Annotated[Registration, "registration"]:
    """`graph` has raw features: the registered model is the student behind its input transform, so it takes
    them as they come; `model_graph` is the preprocessed one the students trained on. `student_models` is aligned
    with `student_reports`; `student_inputs` holds one matrix per input kind."""
    link_runs()
    name, seed = select_best(results, setting)
    run = Run(setting=setting, seed=seed)
    index = [r.name for r in student_reports].index(name)
    report = student_reports[index]
    inputs = next(m for m in student_inputs if m.layout.kind == report.inputs)
    rows = results[(results["model"] == name) & (results["setting"] == setting) & (results["seed"] == seed)]
    score = rows.set_index("part")
    mlflow.log_dict(run_config, "run_config.json")
    student_config = report.config.model_dump(mode="json")
    reason = selection_reason(results, setting, name)
    tags = {
        "student": name, "method": report.method, "teacher": teacher_name(results),
        "inputs": inputs.layout.kind, "input_width": str(inputs.layout.width),
        "setting": setting, "seed": str(seed),
        "snapshot_hash": graph.snapshot_hash, "selected_by": f"mean val {SELECTION_METRIC} over seeds",
        "selection_reason": reason,
        "val_micro_f1": f"{score.loc['val', 'micro_f1']:.4f}", "test_micro_f1": f"{score.loc['test', 'micro_f1']:.4f}",
        "test_macro_f1": f"{score.loc['test', 'macro_f1']:.4f}", "student_mlflow_run_id": report.mlflow_run_id,
        "zenml_pipeline_run_id": str(get_step_context().pipeline_run.id),
        "student_config": json.dumps(student_config, sort_keys=True),
    }
    metadata = {"snapshot_hash": graph.snapshot_hash, "student_config": student_config, "run_config": run_config,
                "input_layout": inputs.layout.model_dump(mode="json")}
    served = served_student(student_models[index][run.key], inputs.layout, transforms.by_type.get(graph.target_type))
    example = served_inputs(inputs.layout, graph, model_graph)(torch.arange(min(EXAMPLE_ROWS, graph.num_target_nodes)))
    key = training_key(run_config, graph.snapshot_hash, name, run.key)
    summary = summary_table(results)

    def card(version: str) -> str:
        return model_card(name, report.method, tags["teacher"], inputs.layout.kind, inputs.layout.width, summary,
                          graph.snapshot_hash, f"models:/{model_name}/{version}", reason)

    version = register_challenger(served, model_name, example, tags, metadata, run_config["dataset"]["class_names"],
                                  key, source_run_id=report.mlflow_run_id, describe=card)
    registration = Registration(name=model_name, version=version, model_uri=f"models:/{model_name}/{version}",
                                student=name, run=run, snapshot_hash=graph.snapshot_hash, reason=reason)
    log_metadata(metadata={"registered_model": registration.model_dump(mode="json")})
    return registration
