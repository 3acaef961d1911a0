"""Lineage in MLflow: the snapshot (and its preprocessed features) as dataset inputs of the parent run and every
teacher and student run, the parent run's parameters, description and charts, the experiment's kind."""

import hashlib
import json

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from zenml import get_step_context, step

from hg2m.config import DatasetConfig
from hg2m.contracts import FeatureTransforms, GateDecision, Registration, StudentReport, TeacherReport
from hg2m.data.graph import REVERSE_PREFIX, HeteroGraphData
from hg2m.labels import is_multi_label
from hg2m.lineage import (
    DESCRIPTION_TAG,
    EXPERIMENT_KIND,
    GraphDataset,
    comparison_figure,
    copy_artifact,
    git_commit,
    log_dataset_inputs,
    metric_values,
    reliability_figure,
    run_description,
    training_curves_figure,
)
from steps.tracking import TRACKER, link_runs, parent_run_id


def graph_dataset(name: str, content_hash: str, source: str, graph: HeteroGraphData) -> GraphDataset:
    """The graph's node tables (their feature widths) and relations, counted, as one MLflow dataset."""
    tables = {t: [("id", "long"), *([("features", "float")] if t in graph.features else [])]
              for t in graph.graph.ntypes}
    tables = {**tables, **{"edges": [("src", "long"), ("dst", "long")]}}
    profile = {f"nodes.{t}": graph.graph.num_nodes(t) for t in graph.graph.ntypes}
    profile |= {f"edges.{rel}": graph.graph.num_edges((src, rel, dst)) for src, rel, dst in graph.graph.canonical_etypes
                if not rel.startswith(REVERSE_PREFIX)}  # the snapshot's relations, not the added reverse ones
    profile |= {f"feature_dim.{t}": int(f.shape[1]) for t, f in graph.features.items()}
    return GraphDataset(name, content_hash, source, tables, profile)


@step(experiment_tracker=TRACKER, enable_cache=False)
def lineage(
    graph: HeteroGraphData, model_graph: HeteroGraphData, transforms: FeatureTransforms, dataset: DatasetConfig,
    run_config: dict, summary: pd.DataFrame, teacher_reports: list[TeacherReport],
    candidate_reports: list[TeacherReport], student_reports: list[StudentReport], registration: Registration,
    gate_decision: GateDecision, reliability_records: list[pd.DataFrame], reliability_runs: list[str],
) -> None:
    """Never cached, so that every pipeline run's parent run holds its story, a fully cached one included.
    `reliability_records` (of runs `reliability_runs`) are empty when no student uses reliable nodes."""
    link_runs()
    client, parent = MlflowClient(), parent_run_id()
    snapshot = graph_dataset(dataset.name, graph.snapshot_hash, str(dataset.resolved_raw_dir()), graph)
    preprocessed_hash = hashlib.sha256(
        (graph.snapshot_hash + transforms.model_dump_json()).encode()).hexdigest()
    preprocessed_source = get_step_context().inputs["model_graph"][0].uri
    preprocessed = graph_dataset(f"{dataset.name}-preprocessed", preprocessed_hash, preprocessed_source, model_graph)
    training_runs = [r.mlflow_run_id for r in (*teacher_reports, *candidate_reports, *student_reports)]
    log_dataset_inputs(client, [parent, *training_runs] if parent else training_runs, [snapshot, preprocessed])
    if not parent:
        return
    experiment = client.get_run(parent).info.experiment_id
    for key, value in EXPERIMENT_KIND.items():
        client.set_experiment_tag(experiment, key, value)
    teacher = teacher_reports[0].model
    params = {
        "dataset": dataset.name, "snapshot_hash": graph.snapshot_hash, "teacher": teacher,
        "students": ",".join(r.name for r in student_reports), "settings": ",".join(run_config["evaluation"]["settings"]),
        "seeds": ",".join(map(str, run_config["evaluation"]["seeds"])), "git_commit": git_commit(),
        "config_hash": hashlib.sha256(json.dumps(run_config, sort_keys=True).encode()).hexdigest()[:16],
        "registered_model": f"{registration.name}/{registration.version}", "registered_student": registration.student,
        "promoted": str(gate_decision.promote),
    }
    existing = client.get_run(parent).data.params
    client.log_batch(parent, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items() if k not in existing])
    client.log_figure(parent, comparison_figure(summary), "comparison.png")
    run = registration.run  # the registered student's (setting, seed): its curves, reliability, confusion matrix
    curves = {f"{r.model} (teacher)": metric_values(client, r.mlflow_run_id, "val_micro_f1")
              for r in teacher_reports if r.run == run}
    curves |= {r.name: metric_values(client, r.mlflow_run_id, f"{run.key}/val_micro_f1") for r in student_reports}
    client.log_figure(parent, training_curves_figure(curves, run.key), "training_curves.png")
    if run.key in reliability_runs:
        client.log_figure(parent, reliability_figure(reliability_records[reliability_runs.index(run.key)]),
                          "reliability_histogram.png")
    evaluation = gate_decision.evaluation_runs.get(registration.version)
    # MLflow's classifier evaluation, and so its confusion matrix, exists for single-label classes only
    if evaluation and not is_multi_label(graph.labels):
        copy_artifact(client, evaluation, "confusion_matrix.png", parent, "registered_confusion_matrix.png")
    client.set_tag(parent, DESCRIPTION_TAG, run_description(dataset.name, graph.snapshot_hash, teacher,
                                                            registration.student, registration.version,
                                                            registration.name, summary))
