"""The real distill pipeline on the real DBLP data, with few epochs, in throw-away ZenML/MLflow stores."""

import shutil

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from zenml.client import Client

from hg2m.config import CONFIG_DIR, PROJECT_ROOT, load_run_config
from hg2m.contracts import CHALLENGER_ALIAS, CHAMPION_ALIAS
from hg2m.data.validation import SnapshotValidationError
from hg2m.evaluate import classification_metrics
from hg2m.labels import decode_bitmasks
from hg2m.student import predict_logits
from pipelines.distill import run_distill, student_step, teacher_step

pytestmark = pytest.mark.e2e

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"
QUICK = {"teacher.optim.max_epochs": 40, "students.*.optim.max_epochs": 300, "device": "cpu",
         "evaluation.seeds": [0], "evaluation.settings": ["transductive", "inductive"],
         "tuning.trials": 2, "tuning.max_epochs": 30}
STUDENTS = ["mlp", "hg2m", "hg2m_plus"]
CANDIDATES = ["rgcn", "han"]  # teacher: auto between two quick ones
STEPS = ["ingest_snapshot", "validate", "build_graph", "preprocess", "inputs_own", "metapaths", "split_transductive_s0",
         "split_inductive_s0", "candidate_rgcn_transductive_s0", "candidate_han_transductive_s0", "select_teacher",
         "teacher_transductive_s0", "teacher_inductive_s0", "reliability_transductive_s0", "reliability_inductive_s0",
         "student_mlp", "student_hg2m", "student_hg2m_plus", "evaluate", "register", "gate", "lineage"]
UNCACHED = {"gate", "lineage"}  # the champion may have changed; every parent run tells its story
RANDOM_GUESS = 0.25  # 4 balanced-ish classes


def quick(overrides: dict | None = None):
    config = load_run_config(DISTILL, "dblp", {**QUICK, **(overrides or {})}, teacher_candidates=CANDIDATES)
    return config.model_copy(update={"students": [s for s in config.students if s.name in STUDENTS]})


@pytest.fixture(scope="module")
def quick_config():
    return quick()


@pytest.fixture(scope="module")
def first_run(quick_config, mlflow_uri, tmp_path_factory):
    return run_distill(quick_config, mlflow_uri, tmp_path_factory.mktemp("mlflow-artifacts"))


def test_pipeline_trains_evaluates_and_registers(first_run, quick_config, mlflow_uri):
    run = first_run.run
    assert run.status == "completed"
    assert set(STEPS) == set(run.steps)
    summary = first_run.summary.set_index(["model", "setting", "part"])
    selection, teacher = first_run.teacher_selection, first_run.teacher_name
    assert selection.chosen == teacher in CANDIDATES and selection.run.key == "transductive_s0"
    assert selection.val_micro_f1[teacher] == max(selection.val_micro_f1.values())
    assert sorted(first_run.summary["model"].unique()) == sorted([teacher, *STUDENTS, "candidate_rgcn", "candidate_han"])
    for name in CANDIDATES:  # every candidate's scores, on the selection run, in the summary
        row = summary.loc[(f"candidate_{name}", "transductive", "val")]
        assert row["micro_f1_mean"] == pytest.approx(selection.val_micro_f1[name]) and row["seeds"] == 1
    chosen = first_run.results.set_index(["model", "setting", "seed", "part"])
    assert chosen.loc[(teacher, "transductive", 0, "test"), "micro_f1"] == pytest.approx(selection.test_micro_f1[teacher])
    for model in [teacher, "hg2m", "hg2m_plus"]:
        assert summary.loc[(model, "transductive", "test"), "micro_f1_mean"] > RANDOM_GUESS + 0.4
        assert summary.loc[(model, "inductive", "production"), "micro_f1_mean"] > RANDOM_GUESS + 0.4
    assert (first_run.summary["seeds"] == 1).all()
    pairs = run.steps["metapaths"].outputs["metapath_neighbours"][0].load()
    assert set(pairs["metapath"]) == {"APA", "APTPA", "APVPA"}
    report = run.steps["student_hg2m_plus"].outputs["student_report"][0].load()
    assert len(report.runs["transductive_s0"].metapath_edges) == 3
    assert all(n > 0 for n in report.runs["transductive_s0"].metapath_edges)
    split = run.steps["split_inductive_s0"].outputs["run_split"][0].load()
    splits = first_run.graph().splits
    for name in ("test", "val"):  # the same share of each is held out
        held_out = set(split.hidden) & set(splits[name].tolist())
        assert len(held_out) == round(0.2 * len(splits[name]))
    assert {"val_observed", "val_held_out"} <= set(summary.xs("inductive", level="setting").index.get_level_values("part"))

    reg, gate = first_run.registration, first_run.gate_decision
    client = MlflowClient(mlflow_uri)
    assert gate.promote and gate.champion_version is None and gate.challenger_version == reg.version
    version = client.get_model_version_by_alias(quick_config.registered_model_name, CHAMPION_ALIAS)
    assert str(version.version) == reg.version
    assert client.get_model_version_by_alias(quick_config.registered_model_name, CHALLENGER_ALIAS).version == version.version
    assert version.tags["snapshot_hash"] == reg.snapshot_hash == run.steps["ingest_snapshot"].run_metadata["content_hash"]
    assert version.tags["student"] == reg.student in STUDENTS
    assert version.tags["teacher"] == teacher
    assert version.tags["zenml_pipeline_run_id"] == str(run.id)
    assert '"method"' in version.tags["student_config"]


def test_lineage_can_be_followed_in_mlflow(first_run, quick_config, mlflow_uri):
    """From the registered version to the run that trained it, and from every training run to its data."""
    client, reg = MlflowClient(mlflow_uri), first_run.registration
    version = client.get_model_version(reg.name, reg.version)
    student_report = first_run.run.steps[f"student_{reg.student}"].outputs["student_report"][0].load()
    assert version.run_id == student_report.mlflow_run_id  # the source run trained it
    source = client.get_run(version.run_id)
    assert source.data.tags["zenml_pipeline_run_id"] == str(first_run.run.id)
    summary = first_run.summary.set_index(["model", "setting", "part"])
    test_score = 100 * summary.loc[(reg.student, "transductive", "test"), "micro_f1_mean"]
    assert f"**{reg.student}**" in version.description and f"{test_score:.2f}" in version.description
    assert f"models:/{reg.name}/{reg.version}" in version.description
    # every run's student and teacher is a logged model of the run that trained it, its scores linked to it;
    # the version was registered from the student's
    models = client.search_logged_models(experiment_ids=[source.info.experiment_id])
    students = {m.name: m for m in models if m.source_run_id == student_report.mlflow_run_id}
    assert set(students) == {f"{reg.student}-{key}" for key in student_report.runs}
    registered = students[f"{reg.student}-{reg.run.key}"]
    assert version.source == f"models:/{registered.model_id}"
    assert student_report.runs[reg.run.key].model_uri == f"models:/{registered.model_id}"
    assert f"{reg.run.key}/test_micro_f1" in {m.key for m in registered.metrics} and registered.model_type == "student"
    teachers = [m for m in models if m.model_type == "teacher"]
    assert len(teachers) == len([s for s in first_run.run.steps if s.startswith(("teacher_", "candidate_"))]) - 1
    assert all({"test_micro_f1", "val_micro_f1"} <= {m.key for m in t.metrics} for t in teachers)

    parent_id = source.data.tags["mlflow.parentRunId"]
    parent = client.get_run(parent_id)
    digest = reg.snapshot_hash[:32]
    teacher_steps = [name for name in first_run.run.steps if name.startswith(("teacher_", "candidate_"))]
    training = [first_run.run.steps[name].outputs["teacher_report"][0].load().mlflow_run_id for name in teacher_steps]
    training.append(student_report.mlflow_run_id)
    for run in [parent, *map(client.get_run, training)]:
        datasets = {d.dataset.name: d for d in run.inputs.dataset_inputs}
        assert datasets["dblp"].dataset.digest == digest, run.info.run_name
        assert "nodes.author" in datasets["dblp"].dataset.profile and "dblp-preprocessed" in datasets
        assert {t.key: t.value for t in datasets["dblp"].tags}["mlflow.data.context"] == "training"
    assert {"dataset", "snapshot_hash", "teacher", "students", "settings", "seeds", "git_commit",
            "config_hash"} <= set(parent.data.params)
    assert parent.data.params["snapshot_hash"] == reg.snapshot_hash
    assert reg.student in parent.data.tags["mlflow.note.content"]
    assert {"comparison.png", "training_curves.png", "reliability_histogram.png",
            "registered_confusion_matrix.png"} <= {a.path for a in client.list_artifacts(parent_id)}
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_registered_model_takes_raw_features_and_reproduces_the_pipelines_predictions(first_run, quick_config,
                                                                                     mlflow_uri):
    """Serving parity: the registered model applies the feature transform itself."""
    graph = first_run.raw_graph()
    mlflow.set_tracking_uri(mlflow_uri)
    model_info = mlflow.models.get_model_info(first_run.registration.model_uri)
    assert list(model_info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 334]
    model = mlflow.pyfunc.load_model(first_run.registration.model_uri)
    test = graph.splits["test"]
    predictions = model.predict(graph.target_features()[test].numpy())
    names = quick_config.dataset.class_names
    assert (predictions["class_name"] == [names[p] for p in predictions["prediction"]]).all()
    score = classification_metrics(graph.labels[test].numpy(), predictions["prediction"].to_numpy(), graph.num_classes)
    reg = first_run.registration
    row = first_run.results.set_index(["model", "setting", "seed", "part"]).loc[(reg.student, reg.run.setting, reg.run.seed, "test")]
    assert score["micro_f1"] == pytest.approx(row["micro_f1"])
    student = first_run.student_model(reg.student, reg.run)  # the bare MLP, on preprocessed features
    pipeline_predictions = predict_logits(student, first_run.graph().target_features()[test]).argmax(-1)
    assert (predictions["prediction"].to_numpy() == pipeline_predictions.numpy()).all()


def test_mlflow_and_zenml_runs_link_both_ways(first_run, quick_config, mlflow_uri):
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name(quick_config.experiment_name)
    runs = client.search_runs([experiment.experiment_id], f"tags.zenml_pipeline_run_id = '{first_run.run.id}'")
    by_step = {r.data.tags["zenml_step"]: r for r in runs}
    assert {"candidate_han_transductive_s0", "select_teacher", "teacher_inductive_s0", "student_mlp",
            "student_hg2m_plus", "evaluate", "register"} <= set(by_step)
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1  # every step run hangs under one pipeline-level run
    teacher_run = by_step["teacher_inductive_s0"]
    assert teacher_run.data.tags["teacher"] == first_run.teacher_name
    assert len(client.get_metric_history(teacher_run.info.run_id, "val_micro_f1")) >= 1
    zenml_step = Client().get_pipeline_run(first_run.run.id).steps["teacher_inductive_s0"]
    assert zenml_step.run_metadata["mlflow_run_id"] == teacher_run.info.run_id
    for name in STUDENTS:  # tuning: each trial a nested run of the student's run, the study an artifact
        student_run = by_step[f"student_{name}"]
        trials = client.search_runs([experiment.experiment_id],
                                    f"tags.mlflow.parentRunId = '{student_run.info.run_id}'")
        assert sorted(t.data.tags["trial"] for t in trials) == ["0", "1"]
        assert all(t.data.tags["state"] in ("complete", "pruned") for t in trials)
        assert "tuning/study.json" in [a.path for a in client.list_artifacts(student_run.info.run_id, "tuning")]
        report = first_run.run.steps[f"student_{name}"].outputs["student_report"][0].load()
        assert report.tuned_params and report.config.optim.lr == report.tuned_params["lr"]
    parent = client.get_run(next(iter(parents)))
    assert parent.data.tags["teacher_selection"] == first_run.teacher_selection.reason
    assert set(parent.data.metrics) >= {f"teacher_candidate.{name}.val_micro_f1" for name in CANDIDATES}


def test_rerun_is_fully_cached_and_registers_nothing_new(first_run, quick_config, mlflow_uri):
    versions_before = len(MlflowClient(mlflow_uri).search_model_versions(f"name='{quick_config.registered_model_name}'"))
    again = run_distill(quick_config, mlflow_uri)
    assert {name: step.status for name, step in again.run.steps.items()} == {
        name: "completed" if name in UNCACHED else "cached" for name in STEPS}
    assert again.registration == first_run.registration
    assert not again.gate_decision.promote and again.gate_decision.reason == "the challenger is the champion already"
    versions_after = len(MlflowClient(mlflow_uri).search_model_versions(f"name='{quick_config.registered_model_name}'"))
    assert versions_after == versions_before


def test_invalid_raw_data_stops_before_training_and_registers_nothing(first_run, quick_config, mlflow_uri, tmp_path):
    raw = tmp_path / "dblp"
    shutil.copytree(PROJECT_ROOT / "data" / "raw" / "dblp", raw)
    with open(raw / "heco" / "pa.txt", "a") as handle:
        handle.write("0\t4057\n")  # author 4057 does not exist (ids 0..4056)
    config = quick({"dataset.raw_dir": str(raw)})
    client = MlflowClient(mlflow_uri)
    versions_before = client.search_model_versions(f"name='{quick_config.registered_model_name}'")
    with pytest.raises(SnapshotValidationError, match=r"(?s)edges/paper_author.parquet.*dst"):
        run_distill(config, mlflow_uri)
    versions_after = client.search_model_versions(f"name='{quick_config.registered_model_name}'")
    assert [v.version for v in versions_after] == [v.version for v in versions_before]
    failed = Client().get_pipeline(name_id_or_prefix="distill").last_run
    assert failed.status == "failed"
    assert not any(name.startswith("teacher") for name in failed.steps)


@pytest.mark.parametrize(("dataset", "teacher", "floor"), [("acm", "han", 0.6), ("imdb", "hgt", 0.45)])
def test_other_datasets_and_teachers_run_end_to_end(dataset, teacher, floor, mlflow_uri, tmp_path):
    """ACM with HAN and IMDB with HGT, through the same snapshot, validation and registry; `hire` covers a
    HAN teacher's pooled neighbour embeddings. Floors: 3 classes, so a random guess scores about 0.33."""
    overrides = {**QUICK, "evaluation.settings": ["transductive"], "students.*.optim.max_epochs": 150}
    config = load_run_config(DISTILL, dataset, overrides, teacher=teacher)
    config = config.model_copy(update={"students": [s for s in config.students if s.name in ("mlp", "hg2m", "hire")]})
    outcome = run_distill(config, mlflow_uri, tmp_path / "mlflow-artifacts")
    summary = outcome.summary.set_index(["model", "setting", "part"])
    for model in (teacher, "hg2m", "hire"):
        assert summary.loc[(model, "transductive", "test"), "micro_f1_mean"] > floor
    version = MlflowClient(mlflow_uri).get_model_version_by_alias(f"hg2m-{dataset}", CHAMPION_ALIAS)
    assert version.tags["teacher"] == teacher and version.tags["snapshot_hash"] == outcome.registration.snapshot_hash


def test_multi_label_graph_trains_serves_and_gates_end_to_end(mlflow_uri, tmp_path):
    """HGB's IMDB, a set of genres per movie: binary cross-entropy teachers and students, reliable nodes and
    meta-path edges on label sets, HIRE, the gate's Micro-F1, and served predictions as bitmasks; with
    `distributed.enabled`, the graph partitioned and the teacher trained on the parts (DistDGL, HIRE's embeddings
    from distributed inference), and the students trained data-parallel in 2 processes (DDP). Floor: Drama
    alone for every movie scores a Micro-F1 of about 0.45, each genre guessed at its base rate about 0.39."""
    overrides = {**QUICK, "evaluation.settings": ["transductive"], "students.*.optim.max_epochs": 150,
                 "distributed.enabled": True, "distributed.student_processes": 2}
    config = load_run_config(DISTILL, "hgb_imdb", overrides, teacher="rgcn")
    config = config.model_copy(update={"students": [s for s in config.students
                                                    if s.name in ("mlp", "hg2m", "hg2m_plus", "hire")]})
    outcome = run_distill(config, mlflow_uri, tmp_path / "mlflow-artifacts")
    summary = outcome.summary.set_index(["model", "setting", "part"])
    for model in ("rgcn", "mlp", "hg2m", "hg2m_plus", "hire"):
        assert summary.loc[(model, "transductive", "test"), "micro_f1_mean"] > 0.55, model
    graph, reg = outcome.raw_graph(), outcome.registration
    test = graph.splits["test"]
    mlflow.set_tracking_uri(mlflow_uri)
    predictions = mlflow.pyfunc.load_model(reg.model_uri).predict(graph.target_features()[test].numpy())
    predicted = decode_bitmasks(predictions["prediction"].to_numpy(), graph.num_classes)
    served = classification_metrics(graph.labels[test].numpy(), predicted, graph.num_classes)["micro_f1"]
    row = outcome.results.set_index(["model", "setting", "seed", "part"]).loc[(reg.student, reg.run.setting,
                                                                               reg.run.seed, "test")]
    assert served == pytest.approx(row["micro_f1"])
    names = config.dataset.class_names
    assert predictions["class_name"].tolist() == [",".join(n for c, n in enumerate(names) if code >> c & 1)
                                                  for code in predictions["prediction"]]
    version = MlflowClient(mlflow_uri).get_model_version_by_alias("hg2m-hgb_imdb", CHAMPION_ALIAS)
    assert float(version.tags["gate_challenger_score"]) == pytest.approx(served)
    book = outcome.partition_book  # distributed.enabled: the graph partitioned for DistDGL, two parts
    assert book.num_parts == 2 and sum(part["movie"] for part in book.nodes_per_part) == 4932
    assert sum(part["test"] for part in book.target_per_part) == 3202
    report = outcome.load(teacher_step(reg.run), "teacher_report")
    tags = MlflowClient(mlflow_uri).get_run(report.mlflow_run_id).data.tags
    assert tags["distributed"] == "DistDGL: 2 parts, 2 trainers"
    student_report = outcome.load(student_step(reg.student), "student_report")
    student_run = MlflowClient(mlflow_uri).get_run(student_report.mlflow_run_id)
    assert student_run.data.tags["data_parallel"] == "DDP: 2 processes"
    assert {"transductive_s0/peak_rss_mb.rank0", "transductive_s0/peak_rss_mb.rank1"} <= set(student_run.data.metrics)


def test_every_step_reports_its_time_and_peak_memory(first_run):
    steps = first_run.step_table().set_index("step")
    assert set(steps.index) == set(STEPS)
    assert (steps["seconds"] > 0).all()
    assert (steps["peak_rss_mb"] > 0).all()


def test_inference_benchmark_times_both_models_and_logs_to_mlflow(first_run, mlflow_uri, capsys):
    from benchmarks.inference import main as benchmark

    args = ["--dataset", "dblp", "--run", str(first_run.run.id), "--batch-sizes", "1", "64", "all",
            "--repeats", "2", "--warmup", "1", "--device", "cpu", "--mlflow-uri", mlflow_uri]
    assert benchmark(args) == 0
    assert "| batch_size |" in capsys.readouterr().out
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("hg2m-inference-dblp")
    (run,) = client.search_runs([experiment.experiment_id])
    metrics = run.data.metrics
    for size in ("1", "64", "all"):
        assert metrics[f"teacher_ms_b{size}"] > metrics[f"teacher_sampling_ms_b{size}"] > 0
        assert metrics[f"speedup_b{size}"] == pytest.approx(metrics[f"teacher_ms_b{size}"] / metrics[f"student_ms_b{size}"])
    # the student's accuracy through the timed path is the registered student's recorded test accuracy
    reg = first_run.registration
    row = first_run.results.set_index(["model", "setting", "seed", "part"]).loc[(reg.student, reg.run.setting, reg.run.seed, "test")]
    assert metrics["student_test_accuracy"] == pytest.approx(row["accuracy"])
    assert metrics["teacher_test_accuracy"] > RANDOM_GUESS + 0.4  # sampled neighbourhoods, trained teacher
    assert run.data.params["zenml_run"] == first_run.run.name


def test_benchmark_without_a_run_on_the_dataset_is_a_clear_error(first_run, mlflow_uri, capsys):
    from benchmarks.inference import main as benchmark

    assert benchmark(["--dataset", "igb", "--mlflow-uri", mlflow_uri]) == 2
    assert "no completed distill run on dataset 'igb-synth'" in capsys.readouterr().err
