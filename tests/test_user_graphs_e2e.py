"""Graphs as a user brings them: snapshot folders with no dataset config, every default student, registered.

AMiner (no features on any type: students read one-hop neighbour inputs), DBLP written as a user snapshot,
and DBLP with its paper features in other units (x 1000)."""

import dataclasses

import mlflow
import pyarrow as pa
import pytest

from hg2m.config import CONFIG_DIR, load_run_config
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import FEAT_VAL_COLUMN, GraphSnapshot, with_hash, write_snapshot
from hg2m.registry import served_inputs
from hg2m.student import predict_logits
from pipelines.distill import run_distill

pytestmark = pytest.mark.e2e

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"
QUICK = {"teacher.optim.max_epochs": 10, "students.*.optim.max_epochs": 15, "device": "cpu", "evaluation.seeds": [0],
         "tracking.registered_model_prefix": "user"}
RANDOM_GUESS = 0.25  # 4 classes
DEFAULT_STUDENTS = ["mlp", "hg2m", "hg2m_plus", "hg2m_plus_no_rn", "hire", "hg2m_nb"]


def snapshot_of(dataset: str, folder, change=None):
    """A built-in dataset written as a user's snapshot folder (optionally changed first)."""
    snapshot = load_raw_dataset(load_run_config(DISTILL, dataset).dataset)
    snapshot = with_hash(change(snapshot) if change else snapshot)
    write_snapshot(snapshot, folder)
    return folder


def papers_times_1000(snapshot: GraphSnapshot) -> GraphSnapshot:
    table = snapshot.nodes["paper"]
    values = table.column(FEAT_VAL_COLUMN).combine_chunks()
    scaled = pa.ListArray.from_arrays(values.offsets, pa.array(values.flatten().to_numpy() * 1000, pa.float32()))
    nodes = {**snapshot.nodes, "paper": table.set_column(table.schema.get_field_index(FEAT_VAL_COLUMN),
                                                         FEAT_VAL_COLUMN, scaled)}
    manifest = snapshot.manifest.model_copy(update={"content_hash": ""})
    return dataclasses.replace(snapshot, manifest=manifest, nodes=nodes)


def distil(folder, mlflow_uri, tmp_path, settings=("transductive",)):
    config = load_run_config(DISTILL, snapshot=folder, overrides={**QUICK, "evaluation.settings": list(settings)})
    assert [s.name for s in config.students] == DEFAULT_STUDENTS
    return run_distill(config, mlflow_uri, tmp_path / "mlflow-artifacts")


def test_featureless_aminer_with_no_config_trains_every_student_and_serves_new_nodes(mlflow_uri, tmp_path):
    outcome = distil(snapshot_of("aminer", tmp_path / "aminer"), mlflow_uri, tmp_path, ("transductive", "inductive"))
    assert outcome.config.dataset.derived_metapaths
    assert set(outcome.config.dataset.metapaths) == {"paper-author-paper", "paper-reference-paper"}
    assert {s.inputs for s in outcome.plan.students} == {"own+neighbours"}
    summary = outcome.summary.set_index(["model", "setting", "part"])
    trained = [s.name for s in outcome.plan.students]
    assert trained == [s for s in DEFAULT_STUDENTS if s != "hg2m_nb"]  # it would be hg2m again: no target features
    for student in trained:  # trained, on inputs that carry signal (the classes are 20/17/8/55%)
        for setting, part in (("transductive", "test"), ("inductive", "test_held_out")):
            assert summary.loc[(student, setting, part), "micro_f1_mean"] > RANDOM_GUESS
    reg = outcome.registration
    assert reg.student in DEFAULT_STUDENTS and outcome.gate_decision.promote

    # A new node arrives with its edges: its inputs are derived from them (test nodes stand in for new ones: same
    # edges, so the same rows), the registered model predicts, and agrees with the pipeline's own prediction.
    graph, raw = outcome.graph(), outcome.raw_graph()
    inputs = outcome.student_inputs(reg.student)
    test = graph.splits["test"]
    rows = served_inputs(inputs.layout, raw, graph)(test)
    mlflow.set_tracking_uri(mlflow_uri)
    served = mlflow.pyfunc.load_model(reg.model_uri).predict(rows.numpy())
    expected = predict_logits(outcome.student_model(reg.student, reg.run), inputs.matrix)[test].argmax(-1)
    assert (served["prediction"].to_numpy() == expected.numpy()).all()
    assert raw.target_type not in raw.features  # featureless: the model's input is neighbour inputs only


def test_dblp_as_a_user_snapshot_and_in_other_units(mlflow_uri, tmp_path):
    plain = distil(snapshot_of("dblp", tmp_path / "dblp"), mlflow_uri, tmp_path)
    scaled = distil(snapshot_of("dblp", tmp_path / "dblp-x1000", papers_times_1000), mlflow_uri, tmp_path)
    assert plain.config.dataset.metapaths.keys() == {"author-paper-author"}
    for outcome in (plain, scaled):
        assert outcome.registration.student in DEFAULT_STUDENTS
    # the preprocessing takes the units out: the teacher's and students' scores do not move
    left = plain.results.set_index(["model", "setting", "seed", "part"])["micro_f1"]
    right = scaled.results.set_index(["model", "setting", "seed", "part"])["micro_f1"]
    assert (left - right).abs().max() <= 0.01
