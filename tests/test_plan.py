"""The plan: every decision about what a distill run trains, made once from the config, and impossible plans
refused before anything trains."""

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_snapshot

from hg2m.config import CONFIG_DIR, ConfigError, GraphConfig, MetaPath, StudentConfig, load_run_config
from hg2m.config.metapaths import derive_metapaths
from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.facts import snapshot_facts
from hg2m.data.graph import build_graph_data
from hg2m.data.raw import dataset_facts
from hg2m.data.snapshot import NodeTypeInfo, RelationInfo, with_hash, write_snapshot
from hg2m.distill.signals import build_signals
from hg2m.plan import DistillPlan, PlanError, Run, plan_run, student_plan

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"
TINY = snapshot_facts(make_tiny_snapshot(), "tiny")
DBLP_FACTS = dataset_facts(load_run_config(DISTILL, "dblp").dataset)


def test_dblp_plan_decides_runs_signals_and_metapaths():
    config, plan = plan_run(load_run_config(DISTILL, "dblp", {"evaluation.seeds": [0, 1]}))
    assert not config.dataset.derived_metapaths
    assert [r.key for r in plan.runs] == ["transductive_s0", "transductive_s1", "inductive_s0", "inductive_s1"]
    by_name = {s.name: s for s in plan.students}
    assert not by_name["mlp"].soft_labels and by_name["hg2m"].soft_labels and not by_name["hg2m"].reliability
    assert by_name["hg2m_plus"].metapaths == ("APA", "APTPA", "APVPA")
    assert by_name["hg2m_plus_no_rn"].metapath_term and not by_name["hg2m_plus_no_rn"].config.reliable_nodes
    assert by_name["hire"].embeddings and not by_name["hire"].reliability
    assert by_name["hg2m_nb"].inputs == "own+neighbours" and by_name["hg2m"].inputs == "own"
    assert "hg2m_plus_no_mp" not in by_name and config.skipped_students == {}  # an ablation: not by default
    assert plan.needs_pairs and plan.needs_embeddings and plan.needs_reliability
    assert plan.registration_setting == "transductive"
    assert plan.teacher_selection_run == Run(setting="transductive", seed=0)  # teacher: auto, decided on seed 0
    assert plan_run(load_run_config(DISTILL, "dblp", teacher="rgcn"))[1].teacher_selection_run is None


def test_plan_without_meta_path_students_needs_no_pairs_reliability_or_embeddings():
    config = load_run_config(DISTILL, "dblp", {"evaluation.settings": ["inductive"]})
    config = config.model_copy(update={"students": [s for s in config.students if s.name in ("mlp", "hg2m")]})
    plan = plan_run(config)[1]
    assert not (plan.needs_pairs or plan.needs_embeddings or plan.needs_reliability)
    assert plan.pair_metapaths == {} and plan.registration_setting == "inductive"
    assert plan.teacher_selection_run == Run(setting="inductive", seed=0)


def test_pairs_are_computed_only_for_the_metapaths_students_use():
    config = load_run_config(DISTILL, "dblp")
    only_apa = StudentConfig(name="apa", method="hg2m_plus", gamma=0.5, metapaths=["APA"])
    plan = plan_run(config.model_copy(update={"students": [only_apa]}))[1]
    assert list(plan.pair_metapaths) == ["APA"] and plan.student("apa").metapaths == ("APA",)


def test_meta_path_student_on_a_dataset_without_meta_paths_is_refused_before_training():
    """No meta-paths at all: a target type joined to nothing (derivation finds none either)."""
    config = load_run_config(DISTILL, "dblp", {"dataset.metapaths": {}}, teacher="rgcn")  # valid: the schema knows no plan
    alone = DBLP_FACTS.model_copy(update={"relations": []})
    with pytest.raises(PlanError, match="'hg2m_plus' uses meta-path distillation .* defines no meta-paths"):
        DistillPlan.from_config(config, alone)
    kept = [s for s in config.students if s.name in ("mlp", "hg2m", "hire")]
    plan = DistillPlan.from_config(config.model_copy(update={"students": kept}), alone)  # --students without them
    assert not plan.needs_pairs
    with pytest.raises(PlanError, match="teacher 'han' runs on meta-path graphs"):
        DistillPlan.from_config(load_run_config(DISTILL, "dblp", {"dataset.metapaths": {}}, teacher="han"), alone)
    with pytest.raises(PlanError, match="teacher 'han' runs on meta-path graphs.*--teacher-candidates"):
        DistillPlan.from_config(load_run_config(DISTILL, "dblp", {"dataset.metapaths": {}}), alone)


def test_a_snapshot_without_configured_meta_paths_gets_them_from_its_schema(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path / "snap")
    config, plan = plan_run(load_run_config(DISTILL, snapshot=tmp_path / "snap"))  # every default student
    assert config.dataset.derived_metapaths
    assert config.dataset.metapaths == {"author-paper-author": MetaPath(relations=["paper_author", "paper_author"])}
    assert plan.student("hg2m_plus").metapaths == ("author-paper-author",)


def test_unknown_student_metapath_is_refused():
    with pytest.raises(PlanError, match=r"meta-paths \['APXA'\] are not among"):
        student_plan(StudentConfig(name="s", method="hg2m_plus", gamma=0.5, metapaths=["APXA"]), "dblp", ["APA"], TINY)


def test_a_student_never_trains_silently_without_the_signals_its_plan_needs(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    split = RunSplit(run=Run(setting="transductive", seed=0), num_nodes=6, hidden=[])
    plan = student_plan(StudentConfig(name="s", method="hg2m_plus", gamma=0.5), "tiny", ["APA"], TINY)
    teacher = TeacherRun(logits=torch.zeros(6, 2))
    with pytest.raises(ValueError, match="needs meta-path neighbour pairs"):
        build_signals(data, data.target_features(), plan, split, teacher, reliable=torch.ones(6, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs reliability scores"):
        build_signals(data, data.target_features(), plan, split, teacher, reliable=None)
    hire = student_plan(StudentConfig(name="h", method="hire"), "tiny", [], TINY)
    with pytest.raises(ValueError, match="needs the teacher's embeddings"):
        build_signals(data, data.target_features(), hire, split, teacher)


def test_derived_meta_paths_cover_every_relation_of_the_target():
    relations = [RelationInfo(name=n, src_type=s, dst_type=d, num_edges=1) for n, s, d in [
        ("cites", "paper", "paper"), ("written_by", "paper", "author"), ("reviewed_by", "paper", "author"),
        ("has_topic", "paper", "field"), ("affiliated_with", "author", "institute"), ("funds", "grant", "paper")]]
    derived = derive_metapaths("paper", relations)
    assert {name: path.relations for name, path in derived.items()} == {
        "cites": ["cites"],
        "paper-written_by-author-paper": ["written_by", "written_by"],
        "paper-reviewed_by-author-paper": ["reviewed_by", "reviewed_by"],
        "paper-field-paper": ["has_topic", "has_topic"],
        "paper-grant-paper": ["funds", "funds"],
    }


def test_impossible_runs_are_refused_by_what_the_graph_holds(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path / "snap")
    config = load_run_config(DISTILL, snapshot=tmp_path / "snap")
    through_missing = {"dataset.metapaths": {"AXA": ["author", "institute", "author"]}}
    with pytest.raises(PlanError, match="meta-path 'AXA' does not fit the graph of .*author->institute"):
        plan_run(load_run_config(DISTILL, snapshot=tmp_path / "snap", overrides=through_missing))
    no_val = TINY.model_copy(update={"split_counts": {"train": 2, "val": 0, "test": 2}})
    with pytest.raises(PlanError, match="no 'author' nodes in split 'val'"):
        DistillPlan.from_config(config, no_val)
    featureless = TINY.model_copy(update={"node_types": {**TINY.node_types, "author": NodeTypeInfo(count=6)}})
    own = StudentConfig(name="own", method="hg2m", inputs="own")
    with pytest.raises(PlanError, match="student 'own': inputs `own`, but target type 'author' has no features"):
        student_plan(own, "tiny", [], featureless)
    assert student_plan(StudentConfig(name="auto", method="hg2m"), "tiny", [], featureless).inputs == "own+neighbours"
    assert student_plan(StudentConfig(name="auto", method="hg2m"), "tiny", [], TINY).inputs == "own"
    isolated = featureless.model_copy(update={"relations": [r for r in TINY.relations if "author" not in
                                                            (r.src_type, r.dst_type)]})
    with pytest.raises(PlanError, match="has no features and no relations"):
        student_plan(StudentConfig(name="auto", method="hg2m"), "tiny", [], isolated)


def test_norm_defaults_to_layer_norm_for_distilling_students_on_neighbour_inputs_only():
    assert student_plan(StudentConfig(name="own", method="hg2m"), "tiny", [], TINY).config.norm == "none"
    neighbours = StudentConfig(name="nb", method="hg2m", inputs="own+neighbours")
    assert student_plan(neighbours, "tiny", [], TINY).config.norm == "layer"
    labels_only = StudentConfig(name="mlp_nb", method="mlp", inputs="own+neighbours")
    assert student_plan(labels_only, "tiny", [], TINY).config.norm == "none"
    explicit = neighbours.model_copy(update={"norm": "batch"})
    assert student_plan(explicit, "tiny", [], TINY).config.norm == "batch"


def test_ablations_are_trained_only_when_named():
    config = load_run_config(DISTILL, "dblp", students=["hg2m", "hg2m_plus_no_mp", "mlp_nb"])
    assert [s.name for s in config.students] == ["hg2m", "hg2m_plus_no_mp", "mlp_nb"]
    assert config.students[1].gamma == 0 and config.students[2].inputs == "own+neighbours"
    with pytest.raises(ConfigError, match=r"unknown students \['nope'\]: .* defines .*'hg2m_plus_hire'"):
        load_run_config(DISTILL, "dblp", students=["hg2m", "nope"])


def write_featureless_target(tiny_snapshot, folder: Path) -> Path:
    """The tiny snapshot with no features on its target type (author)."""
    tables = {**tiny_snapshot.nodes, "author": tiny_snapshot.nodes["author"].drop_columns(
        [c for c in tiny_snapshot.nodes["author"].column_names if c.startswith("feat")])}
    infos = {**tiny_snapshot.manifest.node_types, "author": NodeTypeInfo(count=6)}
    manifest = tiny_snapshot.manifest.model_copy(update={"node_types": infos, "content_hash": ""})
    write_snapshot(with_hash(dataclasses.replace(tiny_snapshot, manifest=manifest, nodes=tables)), folder)
    return folder


def test_a_student_that_would_repeat_another_on_this_graph_is_left_out_and_says_why(tiny_snapshot, tmp_path):
    """Without target features every student takes own+neighbours inputs: hg2m_nb would be hg2m again."""
    config, plan = plan_run(load_run_config(DISTILL, snapshot=write_featureless_target(tiny_snapshot, tmp_path)))
    assert config.skipped_students == {"hg2m_nb": "would train exactly as hg2m on this graph"}
    assert "hg2m_nb" not in [s.name for s in plan.students]
    assert {s.inputs for s in plan.students} == {"own+neighbours"}


def test_teacher_auto_leaves_out_candidates_that_cannot_run_on_the_graph_and_says_why(tiny_snapshot, tmp_path):
    write_featureless_target(tiny_snapshot, tmp_path / "snap")
    config, plan = plan_run(load_run_config(DISTILL, snapshot=tmp_path / "snap"))
    assert [t.model for t in config.teachers] == ["rgcn", "simplehgn", "hgt"]
    assert list(config.skipped_teachers) == ["han"] and plan.teacher_selection_run is not None
    assert config.skipped_teachers["han"].startswith(f"needs features on the target type 'author', which has none in "
                                                     f"{tmp_path / 'snap'}")
    with pytest.raises(PlanError, match="teacher 'han' needs features on the target type 'author'"):
        plan_run(load_run_config(DISTILL, snapshot=tmp_path / "snap", teacher="han"))
    with pytest.raises(PlanError, match="teacher 'han' needs features"):  # one candidate: nothing to choose from
        plan_run(load_run_config(DISTILL, snapshot=tmp_path / "snap", teacher_candidates=["han"]))


def test_distributed_training_is_refused_where_it_cannot_run_before_training():
    """The partitions hold the whole graph (no inductive setting), and HAN does not train on them."""
    distributed = {"distributed.enabled": True}
    with pytest.raises(PlanError, match="inductive setting hides nodes .* --settings transductive"):
        plan_run(load_run_config(DISTILL, "dblp", distributed, teacher="rgcn"))
    transductive = {**distributed, "evaluation.settings": ["transductive"]}
    with pytest.raises(PlanError, match="teacher 'han' builds its meta-path graphs .* does not train on partitions"):
        plan_run(load_run_config(DISTILL, "dblp", transductive, teacher="han"))
    config, plan = plan_run(load_run_config(DISTILL, "dblp", transductive))  # teacher: auto
    assert [t.model for t in config.teachers] == ["rgcn", "simplehgn", "hgt"]
    assert list(config.skipped_teachers) == ["han"]
    assert plan_run(load_run_config(DISTILL, "dblp", transductive, teacher="hgt"))[1].teacher_selection_run is None


def test_more_data_parallel_students_than_gpus_is_refused_before_training(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    two = {"distributed.student_processes": 2}
    for device in ("auto", "cuda"):
        with pytest.raises(PlanError, match=r"student_processes \(--student-processes\) is 2: .* torch sees 1"):
            plan_run(load_run_config(DISTILL, "dblp", {**two, "device": device}, teacher="rgcn"))
    plan_run(load_run_config(DISTILL, "dblp", {**two, "device": "cpu"}, teacher="rgcn"))  # CPU ranks: any number
