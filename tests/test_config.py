import pytest
from pydantic import ValidationError

from hg2m.config import (
    CONFIG_DIR,
    TEACHER_NAMES,
    ConfigError,
    HANConfig,
    RGCNConfig,
    SimpleHGNConfig,
    load_run_config,
    read_yaml,
    teacher_config,
)

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"


def test_default_config_loads_with_dataset():
    config = load_run_config(DISTILL, "dblp")
    assert config.dataset.target_type == "author" and config.dataset.split == "hgb"
    assert [s.method for s in config.students][:3] == ["mlp", "hg2m", "hg2m_plus"]
    assert config.evaluation.seeds == [0, 1, 2] and config.evaluation.settings == ["transductive", "inductive"]
    assert set(config.dataset.metapaths) == {"APA", "APTPA", "APVPA"}
    assert config.registered_model_name == "hg2m-dblp"


def test_overrides_reach_nested_values_and_every_student():
    config = load_run_config(DISTILL, "dblp", {"teacher.optim.max_epochs": 3, "students.*.optim.max_epochs": 4,
                                               "evaluation.seeds": [7]})
    assert config.teachers[0].optim.max_epochs == 3
    assert {s.optim.max_epochs for s in config.students} == {4}
    assert config.evaluation.seeds == [7]


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'.*known: acm, aminer, dblp, hgb_acm, hgb_imdb, igb, imdb"):
        load_run_config(DISTILL, "nope")


def test_missing_file_and_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_run_config(tmp_path / "missing.yaml", "dblp")
    with pytest.raises(ConfigError, match=r"(?s)distill.yaml.*teachers\.0\.rgcn\.dropout"):
        load_run_config(DISTILL, "dblp", {"teacher.dropout": 1.5})
    bad = tmp_path / "bad.yaml"
    bad.write_text("students: [{name: a, method: mlp, typo_field: 1}]\n")
    with pytest.raises(ConfigError, match=r"(?s)bad.yaml.*typo_field"):
        load_run_config(bad, "dblp")


def test_students_need_unique_names():
    with pytest.raises(ConfigError, match="student names must be unique"):
        twins = [{"name": "x", "method": "mlp"}, {"name": "x", "method": "hg2m"}]
        load_run_config(DISTILL, "dblp", {"students": twins})
    with pytest.raises(ConfigError, match="at least one student"):
        load_run_config(DISTILL, "dblp", {"students": []})


def test_teacher_names_configs_and_classes_agree():
    """TEACHER_NAMES (from the union), configs/teachers/*.yaml and each YAML's class are one list."""
    assert sorted(TEACHER_NAMES) == sorted(p.stem for p in (CONFIG_DIR / "teachers").glob("*.yaml"))
    for name in TEACHER_NAMES:
        config = teacher_config(read_yaml(CONFIG_DIR / "teachers" / f"{name}.yaml"))
        assert config.model == name and type(config).model_fields["model"].default == name
        assert load_run_config(DISTILL, "dblp", teacher=name).teachers[0] == config


def test_each_teacher_config_holds_only_its_own_fields():
    with pytest.raises(ValidationError, match=r"rgcn\.edge_dim\s+Extra inputs are not permitted"):
        teacher_config({"model": "rgcn", "edge_dim": 64})
    with pytest.raises(ValidationError, match=r"hgt\.metapath_max_neighbours"):
        teacher_config({"model": "hgt", "metapath_max_neighbours": 10})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        teacher_config({"model": "gcn"})
    with pytest.raises(ConfigError, match=r"teachers\.0\.rgcn\.num_heads"):
        load_run_config(DISTILL, "dblp", {"teacher.num_heads": 4})
    assert "num_heads" not in RGCNConfig.model_fields and "self_loop" not in HANConfig.model_fields
    assert isinstance(teacher_config({"model": "simplehgn", "edge_dim": 8}), SimpleHGNConfig)
    assert isinstance(load_run_config(DISTILL, "dblp", teacher="han").teachers[0], HANConfig)


def test_a_teacher_config_keeps_its_model_when_dumped_with_only_the_set_fields():
    """ZenML passes step parameters as `model_dump(exclude_unset=True)`: the tag must survive it."""
    for config in (RGCNConfig(hidden_dim=3), HANConfig(num_heads=2), SimpleHGNConfig()):
        assert teacher_config(config.model_dump(exclude_unset=True)) == config


def test_a_snapshot_folder_with_a_bad_manifest_is_a_config_error(tmp_path):
    (tmp_path / "manifest.json").write_text('{"name": "x"}')
    with pytest.raises(ConfigError, match=r"(?s)snapshot .*invalid manifest.*target_type"):
        load_run_config(DISTILL, snapshot=tmp_path)


def test_dataset_teacher_overrides_apply_to_that_teacher_only():
    assert load_run_config(DISTILL, "acm", teacher="simplehgn").teachers[0].optim.patience == 100
    assert load_run_config(DISTILL, "dblp", teacher="simplehgn").teachers[0].optim.patience == 30
    assert load_run_config(DISTILL, "acm", teacher="hgt").teachers[0].optim.patience == 30
    cli = load_run_config(DISTILL, "acm", {"teacher.optim.patience": 7}, teacher="simplehgn")
    assert cli.teachers[0].optim.patience == 7  # the command line wins


def test_teacher_auto_trains_every_candidate_each_with_its_own_settings():
    auto = load_run_config(DISTILL, "acm", {"teacher.optim.max_epochs": 5})
    assert [t.model for t in auto.teachers] == list(TEACHER_NAMES) and auto.selects_teacher
    assert {t.optim.max_epochs for t in auto.teachers} == {5}  # teacher.X applies to every candidate
    assert auto.teacher_config("simplehgn").optim.patience == 100  # the dataset's override, for that teacher only
    assert auto.teacher_config("hgt").optim.patience == 30
    assert [t.model for t in load_run_config(DISTILL, "igb").teachers] == ["rgcn"]  # the dataset's candidates
    chosen = load_run_config(DISTILL, "dblp", teacher_candidates=["hgt", "rgcn"])
    assert [t.model for t in chosen.teachers] == ["hgt", "rgcn"]
    assert not load_run_config(DISTILL, "dblp", teacher="hgt").selects_teacher
    with pytest.raises(ConfigError, match="--teacher-candidates applies to --teacher auto"):
        load_run_config(DISTILL, "dblp", teacher="hgt", teacher_candidates=["rgcn"])
    with pytest.raises(ConfigError, match="teacher candidates must be distinct"):
        load_run_config(DISTILL, "dblp", teacher_candidates=["hgt", "hgt"])


def test_run_py_checks_its_flags_and_prints_a_crontab_line(tmp_path, capsys):
    import run

    assert run.main(["--pipeline", "retrain"]) == 2
    assert "needs --snapshot-dir" in capsys.readouterr().err
    assert run.main(["--pipeline", "retrain", "--snapshot-dir", str(tmp_path), "--cron", "0 3 * *"]) == 2
    assert "expected 5 fields" in capsys.readouterr().err
    argv = ["--pipeline", "retrain", "--snapshot-dir", str(tmp_path), "--dataset", "dblp", "--cron", "15 3 * * 1"]
    assert run.main(argv) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("15 3 * * 1 cd ") and f"--snapshot-dir {tmp_path}" in line and "--cron" not in line


@pytest.mark.parametrize(("flags", "message"), [
    (["--seeds", "-1"], "--seeds: expected an integer of 0 or more, got -1"),
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--teacher-epochs", "0"], "--teacher-epochs: expected a positive integer, got 0"),
    (["--trials", "-2"], "--trials: expected an integer of 0 or more, got -2"),
])
def test_bad_flag_values_are_one_line_naming_the_flag(flags, message, capsys):
    import run

    with pytest.raises(SystemExit) as exit_info:
        run.main(["--dataset", "dblp", *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err
    assert err.splitlines() == [f"error: argument {message} (see run.py --help)"]  # no usage block


def test_cuda_without_a_gpu_is_refused_before_training(capsys, monkeypatch):
    import run

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert run.main(["--dataset", "dblp", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda' (--device" in err


@pytest.mark.parametrize(("raised", "code", "said"), [
    (KeyboardInterrupt(), 130, "interrupted (Ctrl-C)"), (None, 143, "terminated (SIGTERM)"),
    (RuntimeError("step x broke"), 1, "error: the distill pipeline failed: RuntimeError: step x broke"),
])
def test_interrupts_and_failures_end_in_one_line_and_an_exit_code(raised, code, said, capsys, monkeypatch, tmp_path):
    import run

    def fail(*_):
        if raised is None:
            run.terminate(15, None)  # what the SIGTERM handler does
        raise raised

    monkeypatch.setattr(run, "run_pipeline", fail)
    monkeypatch.setattr(run, "PROJECT_ROOT", tmp_path)
    assert run.main(["--dataset", "dblp", "--teacher", "rgcn"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert said in err[0]
    if code == 1:  # the traceback goes to a log file the second line names
        log = tmp_path / err[1].split("Full traceback: ")[1]
        assert "step x broke" in log.read_text() and "Traceback" in log.read_text()
    else:
        assert len(err) == 1
