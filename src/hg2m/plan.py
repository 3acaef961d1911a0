"""The distill plan: every decision about what a pipeline run trains, made once from the validated config.

    plan = DistillPlan.from_config(config, facts)     # facts: the graph's schema and split sizes
    plan.runs                 (setting, seed) pairs; each trains one teacher and one model per student
    plan.teacher_selection_run  with `teacher: auto`, the run on which every candidate teacher is trained and
                              the best on validation chosen (the registration setting's first seed)
    plan.tuning_run           with tuning on, the run (the same one) whose validation scores the students' trials
    plan.students             per student: its inputs (own features, or with one-hop neighbour inputs), and
                              does it read soft labels, reliable nodes, meta-path pairs (and which
                              meta-paths), teacher embeddings?
    plan.needs_pairs          is the meta-path step needed at all (and for which meta-paths)?
    plan.needs_embeddings     must the teacher write its embeddings on the observed graph (HIRE)?

The plan is made once, before the pipeline starts, and passed to it; pipelines, steps and the training code
read its fields, and none of them re-derives a decision from the student's method or its weights. A plan
that cannot be carried out (a meta-path student on a graph without meta-paths, a meta-path of the student
that the dataset does not define or that does not fit the graph's schema, HAN without meta-paths, an empty
split, own-features inputs on a featureless target) is a PlanError, one line, before anything trains.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from hg2m.config import (
    INDUCTIVE,
    TRANSDUCTIVE,
    ConfigError,
    InputKind,
    MetaPath,
    RunConfig,
    Setting,
    StudentConfig,
)
from hg2m.config.metapaths import derive_metapaths
from hg2m.data.facts import GraphFacts
from hg2m.data.graph import schema_graph
from hg2m.data.raw import dataset_facts
from hg2m.graphs.metapaths import metapath_hops

# Which teacher signals each student method distils (see hg2m.student for the losses).
METHOD_SIGNALS: dict[str, frozenset[str]] = {
    "mlp": frozenset(),
    "hg2m": frozenset({"soft_labels"}),
    "hg2m_plus": frozenset({"soft_labels", "reliability"}),
    "hire": frozenset({"soft_labels", "embeddings"}),
    "hg2m_plus_hire": frozenset({"soft_labels", "reliability", "embeddings"}),
}


class PlanError(ConfigError):
    """The configuration asks for something that cannot be trained; raised before any training."""


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Run(Frozen):
    """One (setting, seed): a teacher, its reliability scores and one model per student are trained for it."""

    setting: Setting
    seed: int

    @property
    def key(self) -> str:
        """`<setting>_s<seed>`: names the run's steps and the students' models."""
        return f"{self.setting}_s{self.seed}"

    @property
    def holds_out_nodes(self) -> bool:
        return self.setting == INDUCTIVE


class StudentPlan(Frozen):
    """One student and the teacher signals it distils.

    metapaths: the meta-paths of its reliable meta-path term (HG2M+'s L_MP), empty when that term is off.
    reliable_ratio: HG2M+'s p for its reliable nodes (the student's own, else evaluation.reliable_ratio).
    """

    config: StudentConfig
    inputs: InputKind
    soft_labels: bool
    reliability: bool
    embeddings: bool
    metapaths: tuple[str, ...] = ()
    reliable_ratio: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_norm(cls, data: dict) -> dict:
        """An unset `norm` is layer norm for a student that distils soft labels on own+neighbours inputs, else none
        (StudentConfig.norm)."""
        config = data.get("config")
        if isinstance(config, StudentConfig) and config.norm is None:
            norm = "layer" if data.get("inputs") == "own+neighbours" and data.get("soft_labels") else "none"
            data = {**data, "config": config.model_copy(update={"norm": norm})}
        return data

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def metapath_term(self) -> bool:
        return bool(self.metapaths)


class DistillPlan(Frozen):
    """What one distill pipeline run trains, and which intermediate artifacts it needs."""

    runs: tuple[Run, ...]
    teacher_selection_run: Run | None
    tuning_run: Run | None  # with tuning.trials > 0: the run whose validation scores every student's trials
    students: tuple[StudentPlan, ...]
    pair_metapaths: dict[str, MetaPath]  # meta-paths whose neighbour pairs some student reads
    needs_embeddings: bool
    registration_setting: str

    @property
    def needs_pairs(self) -> bool:
        return bool(self.pair_metapaths)

    @property
    def needs_reliability(self) -> bool:
        return any(s.reliability for s in self.students)

    @property
    def input_kinds(self) -> list[str]:
        """The student input kinds some student uses, in first-use order."""
        return list(dict.fromkeys(s.inputs for s in self.students))

    @classmethod
    def from_config(cls, config: RunConfig, facts: GraphFacts) -> DistillPlan:
        """The plan, checked against what is known of the graph before training (its schema and split sizes)."""
        dataset = config.dataset
        check_splits(facts)
        obstacles = teacher_obstacles(config, facts)
        if obstacles:  # plan_run has left them out already under `teacher: auto`
            name, why = next(iter(obstacles.items()))
            raise PlanError(f"teacher {name!r} {why}: choose another --teacher"
                            + (" or --teacher-candidates" if config.selects_teacher else ""))
        teachers_need_metapaths = any(t.needs_metapaths for t in config.teachers)
        students = tuple(student_plan(s, dataset.name, list(dataset.metapaths), facts, config.evaluation.reliable_ratio)
                         for s in config.students)
        used = {name for s in students for name in s.metapaths}
        pair_metapaths = {name: path for name, path in dataset.metapaths.items() if name in used}
        check_metapaths(dataset.metapaths if teachers_need_metapaths else pair_metapaths, facts,
                        config.graph.add_reverse_edges)
        settings = config.evaluation.settings
        if config.distributed.enabled and INDUCTIVE in settings:
            raise PlanError("distributed.enabled trains the teacher on partitions of the whole graph, but the "
                            "inductive setting hides nodes from it: run with --settings transductive")
        # registered models come from the setting trained on the most data, when it was run
        registration_setting = TRANSDUCTIVE if TRANSDUCTIVE in settings else settings[0]
        # teacher selection and tuning decide on one run: the registration setting's first seed
        deciding_run = Run(setting=registration_setting, seed=config.evaluation.seeds[0])
        return cls(
            runs=tuple(Run(setting=setting, seed=seed) for setting in settings for seed in config.evaluation.seeds),
            teacher_selection_run=deciding_run if config.selects_teacher else None,
            tuning_run=deciding_run if config.tuning.trials else None,
            students=students,
            pair_metapaths=pair_metapaths,
            needs_embeddings=any(s.embeddings for s in students),
            registration_setting=registration_setting,
        )

    def student(self, name: str) -> StudentPlan:
        return next(s for s in self.students if s.name == name)


def plan_run(config: RunConfig) -> tuple[RunConfig, DistillPlan]:
    """The config as it will run (with meta-paths derived from the graph's schema when none are configured) and
    its plan, checked against the dataset's facts (read from the snapshot or the raw files)."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise PlanError("device 'cuda' (--device, or `device` in the config) was asked for, but torch sees no CUDA "
                        "device on this machine: use --device cpu or auto")
    ranks, gpus = config.distributed.student_processes, torch.cuda.device_count()
    if ranks > 1 and config.device != "cpu" and 0 < gpus < ranks:
        raise PlanError(f"distributed.student_processes (--student-processes) is {ranks}: on the GPU each process "
                        f"takes one, and torch sees {gpus}; use at most {gpus} processes, or --device cpu")
    facts = dataset_facts(config.dataset)
    dataset = config.dataset
    if not dataset.metapaths:
        derived = derive_metapaths(facts.target_type, facts.relations)
        dataset = dataset.model_copy(update={"metapaths": derived, "derived_metapaths": True})
        config = config.model_copy(update={"dataset": dataset})
    if config.selects_teacher:
        config = without_unrunnable_teachers(config, facts)
    config = without_repeated_students(config, facts)
    return config, DistillPlan.from_config(config, facts)


def without_repeated_students(config: RunConfig, facts: GraphFacts) -> RunConfig:
    """Leaves out a student whose settings, inputs resolved on this graph, equal an earlier student's (`hg2m_nb`
    is `hg2m` where the target has no features), and records why."""
    kept, skipped, seen = [], {}, {}
    for student in config.students:
        settings = student.model_copy(update={"name": "", "inputs": input_kind(student, facts)}).model_dump_json()
        if settings in seen:
            skipped[student.name] = f"would train exactly as {seen[settings]} on this graph"
        else:
            seen[settings] = student.name
            kept.append(student)
    return config.model_copy(update={"students": kept, "skipped_students": skipped})


def teacher_obstacles(config: RunConfig, facts: GraphFacts) -> dict[str, str]:
    """Teacher -> why it cannot run on this graph, for the teachers of `config` that cannot."""
    obstacles = {}
    for teacher in config.teachers:
        if teacher.needs_metapaths and not config.dataset.metapaths:
            obstacles[teacher.model] = (f"runs on meta-path graphs, but dataset {config.dataset.name!r} defines no "
                                        "meta-paths (set `metapaths` in its dataset config)")
        elif teacher.needs_target_features and not facts.has_features(facts.target_type):
            obstacles[teacher.model] = (f"needs features on the target type {facts.target_type!r}, which has none "
                                        f"in {facts.source}")
        elif config.distributed.enabled and not teacher.trains_on_partitions:
            obstacles[teacher.model] = ("builds its meta-path graphs from the whole graph in one process, so it does "
                                        "not train on partitions (distributed.enabled)")
    return obstacles


def without_unrunnable_teachers(config: RunConfig, facts: GraphFacts) -> RunConfig:
    """`teacher: auto` leaves out the candidates that cannot run on this graph, and records why."""
    obstacles = teacher_obstacles(config, facts)
    runnable = [t for t in config.teachers if t.model not in obstacles]
    if not runnable:
        raise PlanError("no candidate teacher can run on this graph: "
                        + "; ".join(f"{name} {why}" for name, why in obstacles.items()))
    return config.model_copy(update={"teachers": runnable, "skipped_teachers": obstacles})


def check_splits(facts: GraphFacts) -> None:
    empty = [split for split, count in facts.split_counts.items() if count == 0]
    if empty:
        raise PlanError(f"{facts.source}: no {facts.target_type!r} nodes in split {' or '.join(map(repr, empty))}: "
                        "training needs train nodes, model selection val nodes and evaluation test nodes")


def check_metapaths(metapaths: dict[str, MetaPath], facts: GraphFacts, add_reverse_edges: bool) -> None:
    """Every meta-path walks the graph's schema from the target type back to it."""
    if metapaths and not facts.relations:
        raise PlanError(f"{facts.source}: the graph has no relations, so meta-paths {sorted(metapaths)} cannot exist")
    if not metapaths:
        return
    schema = schema_graph(list(facts.node_types), facts.relations, add_reverse_edges)
    for name, path in metapaths.items():
        try:
            metapath_hops(schema, path, facts.target_type)
        except ValueError as err:
            raise PlanError(f"meta-path {name!r} does not fit the graph of {facts.source}: {err}") from None


def input_kind(config: StudentConfig, facts: GraphFacts) -> InputKind:
    """The configured inputs, or by default own features when the target type has them, else neighbours too."""
    has_features = facts.has_features(facts.target_type)
    if config.inputs == "own" and not has_features:
        raise PlanError(f"student {config.name!r}: inputs `own`, but target type {facts.target_type!r} has no "
                        f"features in {facts.source}: use inputs own+neighbours (the default for such graphs)")
    if not has_features and not any(facts.target_type in (r.src_type, r.dst_type) for r in facts.relations):
        raise PlanError(f"student {config.name!r}: target type {facts.target_type!r} has no features and no relations "
                        f"in {facts.source}: there is nothing an MLP could read")
    return config.inputs or ("own" if has_features else "own+neighbours")


def student_plan(config: StudentConfig, dataset_name: str, dataset_metapaths: list[str],
                 facts: GraphFacts, reliable_ratio: float | None = None) -> StudentPlan:
    """The signals `config` distils and its inputs; its meta-path term is on when it uses reliability and gamma > 0."""
    signals = METHOD_SIGNALS[config.method]
    unknown = sorted(set(config.metapaths or []) - set(dataset_metapaths))
    if unknown:
        raise PlanError(f"student {config.name!r}: meta-paths {unknown} are not among dataset {dataset_name!r}'s "
                        f"meta-paths {dataset_metapaths}")
    metapaths: tuple[str, ...] = ()
    if "reliability" in signals and config.gamma > 0:
        metapaths = tuple(config.metapaths or dataset_metapaths)
        if not metapaths:
            raise PlanError(f"student {config.name!r} uses meta-path distillation (gamma > 0), but dataset "
                            f"{dataset_name!r} defines no meta-paths: pass --dataset NAME for a config with "
                            "`metapaths`, set gamma to 0, or leave that student out (--students)")
    reliability = "reliability" in signals
    return StudentPlan(config=config, inputs=input_kind(config, facts), soft_labels="soft_labels" in signals,
                       reliability=reliability, embeddings="embeddings" in signals, metapaths=metapaths,
                       reliable_ratio=(config.reliable_ratio or reliable_ratio) if reliability else None)
