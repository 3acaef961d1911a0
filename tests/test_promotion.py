import pytest
from mlflow.models import EvaluationResult

from hg2m.config import CONFIG_DIR, ConfigError, load_run_config
from hg2m.data.snapshot import SnapshotError, write_snapshot
from hg2m.promotion import GATE_METRIC, decide, exclusive_lock, newest_snapshot

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"


def promotes(challenger: float, champion: float | None, margin: float, already_champion: bool = False) -> bool:
    def result(score: float) -> EvaluationResult:
        return EvaluationResult(metrics={GATE_METRIC: score}, artifacts={})

    return decide(result(challenger), None if champion is None else result(champion), margin, already_champion)[0]


def test_gate_promotes_only_at_least_the_margin_above_the_champion():
    assert promotes(0.80, None, 0.01)
    assert promotes(0.82, 0.80, 0.01)
    assert not promotes(0.805, 0.80, 0.01)
    assert promotes(0.81, 0.80, 0.01)  # MLflow's min_absolute_change: at least the margin
    assert not promotes(0.80, 0.80, 0.01)
    assert promotes(0.70, 0.80, -0.2)  # a margin <= 0: unless worse by more than its size
    assert not promotes(0.55, 0.80, -0.2)
    assert promotes(0.80, 0.80, 0.0)
    assert not promotes(0.90, 0.80, -0.2, already_champion=True)  # a cached re-run: nothing to move


def test_newest_snapshot_goes_by_name_and_checks_the_hash(tiny_snapshot, tmp_path):
    for name in ("2026-01", "2026-03", "2026-02"):
        write_snapshot(tiny_snapshot, tmp_path / name)
    (tmp_path / ".2026-04-being-written").mkdir()  # hidden: not looked at
    folder, content_hash = newest_snapshot(tmp_path)
    assert folder.name == "2026-03" and content_hash == tiny_snapshot.manifest.content_hash
    (tmp_path / "2026-03" / "edges" / "paper_venue.parquet").write_bytes(b"junk")
    with pytest.raises(ValueError, match="paper_venue.parquet"):
        newest_snapshot(tmp_path)
    (tmp_path / "2026-04").mkdir()  # newest, without a manifest: an error, not a fall-back to 2026-03
    with pytest.raises(SnapshotError, match="2026-04: the newest folder .* has no manifest.json"):
        newest_snapshot(tmp_path)
    with pytest.raises(SnapshotError, match="no snapshot folders"):
        newest_snapshot(tmp_path / ".2026-04-being-written")


def test_lock_refuses_a_second_holder(tmp_path):
    with exclusive_lock(tmp_path / "x.lock"):
        with pytest.raises(RuntimeError, match="another retrain"):
            with exclusive_lock(tmp_path / "x.lock"):
                pass
    with exclusive_lock(tmp_path / "x.lock"):  # released again
        pass


def test_user_snapshot_config_comes_from_its_manifest(tiny_snapshot, tmp_path):
    write_snapshot(tiny_snapshot, tmp_path / "snap")
    config = load_run_config(DISTILL, snapshot=tmp_path / "snap", overrides={"students": [{"name": "s", "method": "hg2m"}]})
    assert (config.dataset.name, config.dataset.loader, config.dataset.target_type) == ("tiny", "snapshot", "author")
    with pytest.raises(ConfigError, match="target_type is 'author', but dataset 'acm' has 'paper'"):
        load_run_config(DISTILL, "acm", snapshot=tmp_path / "snap")
    with pytest.raises(ConfigError, match="no manifest.json"):
        load_run_config(DISTILL, snapshot=tmp_path)
