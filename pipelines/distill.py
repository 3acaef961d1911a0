"""The distill pipeline: wiring only; what it trains comes from the plan (hg2m.plan).

Steps and their artifacts (each one versioned and tracked by ZenML; <run> = <setting>_s<seed>):
    ingest_snapshot     raw files          -> snapshot (Parquet folder + manifest, content-hashed)
    validate            snapshot           -> validation_report (Great Expectations; stops the run on bad data)
    build_graph         snapshot           -> graph (DGL heterograph, raw features, labels, splits)
    preprocess          graph              -> model_graph (features transformed per type), feature_transforms,
                                              raw_example (a few target nodes' raw features)
    partition_graph     model_graph        -> partitions (DistDGL's parts with their node data and partition
                                              book), partition_book (counts per part); only with
                                              `distributed.enabled`
    metapaths           graph              -> metapath_neighbours (meta-path, node, neighbour, count), capped;
                                              only when a student's plan has a meta-path term
    inputs_<kind>       model_graph        -> student_inputs (layout and rows of each input kind students use:
                                              own features, or own+neighbours one-hop inputs)
    split_<run>         graph              -> run_split (held-out and observed target nodes)
    candidate_<t>_<run> graph, run_split   -> with `teacher: auto`, each candidate teacher t on the selection run
    select_teacher      candidates' reports -> teacher_selection (best validation Micro-F1)
    teacher_<run>       graph, run_split   -> teacher_model, teacher_run (soft labels, embeddings if needed),
                                              teacher_report (under auto: the chosen candidate's, or trained);
                                              with `distributed.enabled`, trained on the partitions with DistDGL
    reliability_<run>   teacher_run        -> reliability (entropy, confidence, teacher label, reliable at the
                                              default p), a record with a histogram in MLflow; only when a
                                              student uses reliable nodes (it draws them itself, with its p)
    student_<name>      what its plan uses -> student_models (one MLP per run), student_report; with tuning on,
                                              an Optuna search on the tuning run first; each run's model is
                                              logged to MLflow as served (input transform first)
    evaluate            models, soft labels -> results (per model, setting, seed), summary (mean, std)
    register            results, reports   -> registration (the best student's logged model, registered as
                                              `challenger`: it takes raw features)
    gate                registration       -> gate_decision (the one place `champion` moves), on raw features
    lineage             all of the above   -> nothing: the snapshot as an MLflow dataset input of the parent run
                                              and every teacher and student run, the parent's parameters,
                                              description and charts (comparison, the registered run's
                                              training curves and reliability, the registered model's
                                              confusion matrix; never cached)
Every tracked step is a nested MLflow run under one parent run per pipeline run. Step and artifact names
are read back only through `DistillRun`, below.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd
from torch import nn
from zenml import pipeline
from zenml.client import Client
from zenml.enums import ExecutionMode
from zenml.models import PipelineRunResponse

from hg2m.config import ConfigError, RunConfig
from hg2m.contracts import GateDecision, InputMatrix, Registration, TeacherSelection
from hg2m.data.graph import HeteroGraphData
from hg2m.data.raw import source_fingerprint
from hg2m.distributed.partition import PartitionSummary
from hg2m.environment import local_artifact_root
from hg2m.plan import DistillPlan, Run, plan_run
from hg2m.tracking import ensure_experiment
from pipelines.stack import ensure_stack
from steps.distill.metapaths import metapaths
from steps.distill.reliability import reliability
from steps.etl.build_graph import build_graph
from steps.etl.ingest import ingest_snapshot
from steps.etl.partition import partition_graph
from steps.etl.preprocess import preprocess
from steps.etl.split_nodes import split_nodes
from steps.etl.student_inputs import student_inputs
from steps.etl.validate import validate
from steps.evaluation.evaluate import evaluate
from steps.evaluation.lineage import lineage
from steps.promotion.gate import gate
from steps.promotion.register import register
from steps.tracking import record_peak_memory, start_memory_watch, tracker_settings
from steps.training.train_student import student
from steps.training.train_teacher import pick_teacher, select_teacher_step, selected_teacher, teacher

PIPELINE = "distill"


def split_step(run: Run) -> str:
    return f"split_{run.key}"


def teacher_step(run: Run) -> str:
    return f"teacher_{run.key}"


def candidate_step(teacher_name: str, run: Run) -> str:
    return f"candidate_{teacher_name}_{run.key}"


SELECT_TEACHER = "select_teacher"
PARTITION = "partition_graph"
METAPATHS = "metapaths"  # the step's name, as ZenML names a step called once: its function's


def reliability_step(run: Run) -> str:
    return f"reliability_{run.key}"


def student_step(name: str) -> str:
    return f"student_{name}"


def inputs_step(kind: str) -> str:
    return f"inputs_{kind.replace('+', '_')}"


@pipeline(name=PIPELINE, on_start=start_memory_watch, on_success=record_peak_memory)
def distill(run_config: dict, plan: dict, source_fingerprint: str) -> None:
    """`plan` is DistillPlan's, made once before the run; `source_fingerprint` identifies the raw files (or the
    snapshot's content), so changed data busts the cache."""
    config = RunConfig.model_validate(run_config)
    plan = DistillPlan.model_validate(plan)
    fraction, device = config.evaluation.inductive_fraction, config.device
    snapshot = ingest_snapshot(dataset=config.dataset, raw_fingerprint=source_fingerprint)
    validate(snapshot)
    raw_graph = build_graph(snapshot, config=config.graph, after="validate")
    graph, transforms, raw_example = preprocess(raw_graph)
    partitions = partition_graph(graph, config=config.distributed, graph_name=config.dataset.name)[0] \
        if config.distributed.enabled else None
    pairs = metapaths(graph, plan.pair_metapaths, config.metapath, derived=config.dataset.derived_metapaths) \
        if plan.needs_pairs else None
    splits = {run: split_nodes(graph, run=run, held_out_fraction=fraction, id=split_step(run)) for run in plan.runs}
    teacher_args = {"graph_config": config.graph, "device": device, "metapaths": config.dataset.metapaths,
                    "with_embeddings": plan.needs_embeddings, "distributed": config.distributed,
                    "partitions": partitions}
    selection, candidates = None, []
    if plan.teacher_selection_run is not None:  # teacher: auto
        first = plan.teacher_selection_run
        candidates = [teacher(graph, splits[first], config=candidate, **teacher_args,
                              id=candidate_step(candidate.model, first)) for candidate in config.teachers]
        selection = select_teacher_step([report for _, _, report in candidates], id=SELECT_TEACHER)
    teacher_runs, teacher_reports, reliability_records = [], [], {}
    for run, split in splits.items():
        if selection is None:
            outputs = teacher(graph, split, config=config.teachers[0], **teacher_args, id=teacher_step(run))
        elif run == plan.teacher_selection_run:
            models, runs, reports = (list(column) for column in zip(*candidates))
            outputs = pick_teacher(selection, models, runs, reports, id=teacher_step(run))
        else:
            outputs = selected_teacher(graph, split, selection, candidates=config.teachers, **teacher_args,
                                       id=teacher_step(run))
        _, teacher_run, teacher_report = outputs
        teacher_runs.append(teacher_run)
        teacher_reports.append(teacher_report)
        if plan.needs_reliability:  # the record; each student draws its reliable nodes with its own p
            reliability_records[run.key] = reliability(
                graph, teacher_run, split, ratio=config.evaluation.reliable_ratio, id=reliability_step(run))
    splits = list(splits.values())
    inputs = {kind: student_inputs(graph, kind=kind, max_bag_ids=config.student_inputs.max_bag_ids,
                                   id=inputs_step(kind)) for kind in plan.input_kinds}
    student_models, reports = [], []
    for student_plan in plan.students:
        # ZenML takes a list of artifacts only as a plain list input: an unused one is passed empty
        models, report = student(graph, inputs[student_plan.inputs], plan=student_plan, device=device, splits=splits,
                                 teacher_runs=teacher_runs if student_plan.soft_labels else [],
                                 tuning=config.tuning, transforms=transforms, raw_example=raw_example,
                                 class_names=config.dataset.class_names, tuning_run=plan.tuning_run,
                                 distributed=config.distributed,
                                 **({"metapath_neighbours": pairs} if student_plan.metapath_term else {}),
                                 id=student_step(student_plan.name))
        student_models.append(models)
        reports.append(report)
    # one matrix per input kind: ZenML's cache refuses the same artifact twice in one list input
    results, summary = evaluate(graph, held_out_fraction=fraction, splits=splits, teacher_runs=teacher_runs,
                          teacher_reports=teacher_reports, student_models=student_models, student_reports=reports,
                          student_inputs=list(inputs.values()),
                          candidate_runs=[run for _, run, _ in candidates],
                          candidate_reports=[report for _, _, report in candidates])
    registration = register(results, reports, setting=plan.registration_setting,
                            held_out_fraction=config.evaluation.inductive_fraction,
                            model_name=config.registered_model_name, run_config=run_config)
    decision = gate(raw_graph, graph, registration, margin=config.promotion.margin)
    lineage(raw_graph, graph, transforms, dataset=config.dataset, run_config=run_config, summary=summary,
            teacher_reports=teacher_reports, candidate_reports=[report for _, _, report in candidates],
            student_reports=reports, registration=registration, gate_decision=decision,
            reliability_records=list(reliability_records.values()), reliability_runs=list(reliability_records))


class DistillRun:
    """A finished distill pipeline run's artifacts, loaded by name (the one place outside the pipeline that
    knows its step and artifact names): for run.py, the retrain pipeline, benchmarks and tests."""

    def __init__(self, run: PipelineRunResponse):
        self.run = run

    def load(self, step: str, output: str):
        return self.run.steps[step].outputs[output][0].load()

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.model_validate(self.run.config.parameters["run_config"])

    @cached_property
    def plan(self) -> DistillPlan:
        return DistillPlan.model_validate(self.run.config.parameters["plan"])

    @cached_property
    def teacher_selection(self) -> TeacherSelection | None:
        """`teacher: auto`'s choice, or None for a fixed teacher."""
        return self.load(SELECT_TEACHER, "teacher_selection") if SELECT_TEACHER in self.run.steps else None

    @property
    def teacher_name(self) -> str:
        return self.teacher_selection.chosen if self.teacher_selection else self.config.teachers[0].model

    @cached_property
    def results(self) -> pd.DataFrame:
        return self.load("evaluate", "results")

    @cached_property
    def summary(self) -> pd.DataFrame:
        return self.load("evaluate", "summary")

    @cached_property
    def registration(self) -> Registration:
        return self.load("register", "registration")

    @cached_property
    def gate_decision(self) -> GateDecision:
        return self.load("gate", "gate_decision")

    @cached_property
    def partition_book(self) -> PartitionSummary | None:
        """The partition's counts per part, with `distributed.enabled`; else None."""
        return self.load(PARTITION, "partition_book") if PARTITION in self.run.steps else None

    def graph(self) -> HeteroGraphData:
        """The graph teachers and students ran on (preprocessed features)."""
        return self.load("preprocess", "model_graph")

    def raw_graph(self) -> HeteroGraphData:
        """The graph as ingested (raw features): what the registered student takes."""
        return self.load("build_graph", "graph")

    def teacher_model(self, run: Run) -> nn.Module:
        return self.load(teacher_step(run), "teacher_model")

    def student_model(self, name: str, run: Run) -> nn.Module:
        return self.load(student_step(name), "student_models")[run.key]

    def student_inputs(self, name: str) -> InputMatrix:
        return self.load(inputs_step(self.plan.student(name).inputs), "student_inputs")

    def step_table(self) -> pd.DataFrame:
        """Per step: status, wall seconds and peak resident memory (MiB, the step's own where measurable)."""
        rows = []
        for name, step_run in self.run.steps.items():
            seconds = (step_run.end_time - step_run.start_time).total_seconds() if step_run.end_time else None
            peak = step_run.run_metadata.get("peak_rss_mb")
            rows.append({"step": name, "status": str(step_run.status), "seconds": seconds, "peak_rss_mb": peak})
        return pd.DataFrame(rows)


def find_distill_run(dataset_name: str, run: str | None = None, recent: int = 100) -> DistillRun:
    """A distill run by ZenML name or id, or else the newest completed one on `dataset_name` (among the last
    `recent` completed runs)."""
    client = Client()
    if run is not None:
        return DistillRun(client.get_pipeline_run(run))
    runs = client.list_pipeline_runs(pipeline_name=PIPELINE, status="completed", sort_by="desc:created", size=recent)
    for candidate in runs.items:
        if candidate.config.parameters.get("run_config", {}).get("dataset", {}).get("name") == dataset_name:
            return DistillRun(candidate)
    raise ConfigError(f"no completed distill run on dataset {dataset_name!r} in the ZenML store: run "
                      f"`python run.py --pipeline distill --dataset {dataset_name}` first, or pass --run")


def run_distill(config: RunConfig, tracking_uri: str, artifact_root: Path | None = None,
                fingerprint: str | None = None) -> DistillRun:
    """Set up the stack and MLflow experiment and run the pipeline. `fingerprint` is the data source's
    fingerprint when the caller has it already (retraining hashed the snapshot to decide whether to run)."""
    config, plan = plan_run(config)  # an impossible plan fails here, before anything starts
    ensure_stack(tracking_uri)
    ensure_experiment(tracking_uri, config.experiment_name, artifact_root or local_artifact_root(tracking_uri))
    # FAIL_FAST re-raises the failing step's own exception (e.g. the validation report), not a summary.
    configured = distill.with_options(enable_cache=config.enable_cache, execution_mode=ExecutionMode.FAIL_FAST,
                                      settings=tracker_settings(config.experiment_name))
    run = configured(run_config=config.model_dump(mode="json"), plan=plan.model_dump(mode="json"),
                     source_fingerprint=fingerprint or source_fingerprint(config.dataset))
    return DistillRun(run)
