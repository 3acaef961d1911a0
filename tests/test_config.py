import pytest

from hg2m.config import CONFIG_DIR, ConfigError, load_run_config

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"


def test_default_config_loads_with_dataset():
    config = load_run_config(DISTILL, "dblp")
    assert config.dataset.target_type == "author" and config.dataset.split == "hgb"
    assert [s.method for s in config.students][:3] == ["mlp", "hg2m", "hg2m_plus"]
    assert config.evaluation.seeds == [0, 1, 2] and config.evaluation.settings == ["transductive", "inductive"]
    assert set(config.dataset.metapaths) == {"APA", "APTPA", "APVPA"}
    assert config.runs()[:2] == [("transductive", 0), ("transductive", 1)]
    assert config.registered_model_name == "hg2m-dblp"


def test_overrides_reach_nested_values_and_every_student():
    config = load_run_config(DISTILL, "dblp", {"teacher.optim.max_epochs": 3, "students.*.optim.max_epochs": 4,
                                               "evaluation.seeds": [7]})
    assert config.teacher.optim.max_epochs == 3
    assert {s.optim.max_epochs for s in config.students} == {4}
    assert config.evaluation.seeds == [7]


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'.*known: acm, dblp, igb, imdb"):
        load_run_config(DISTILL, "nope")


def test_missing_file_and_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_run_config(tmp_path / "missing.yaml", "dblp")
    with pytest.raises(ConfigError, match=r"(?s)distill.yaml.*teacher.dropout"):
        load_run_config(DISTILL, "dblp", {"teacher.dropout": 1.5})
    bad = tmp_path / "bad.yaml"
    bad.write_text("students: [{name: a, method: mlp, typo_field: 1}]\n")
    with pytest.raises(ConfigError, match=r"(?s)bad.yaml.*typo_field"):
        load_run_config(bad, "dblp")


def test_student_metapaths_must_exist():
    with pytest.raises(ConfigError, match="unknown meta-paths"):
        load_run_config(DISTILL, "dblp", {"students": [{"name": "x", "method": "hg2m_plus", "metapaths": ["APXPA"]}]})


def test_dataset_teacher_overrides_apply_to_that_teacher_only():
    assert load_run_config(DISTILL, "acm", teacher="simplehgn").teacher.optim.patience == 100
    assert load_run_config(DISTILL, "dblp", teacher="simplehgn").teacher.optim.patience == 30
    assert load_run_config(DISTILL, "acm", teacher="hgt").teacher.optim.patience == 30
    cli = load_run_config(DISTILL, "acm", {"teacher.optim.patience": 7}, teacher="simplehgn")
    assert cli.teacher.optim.patience == 7  # the command line wins


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
