"""The real DBLP raw files, as shipped in data/raw/dblp."""

import collections

import pytest

from hg2m.config import CONFIG_DIR, DatasetConfig, read_yaml
from hg2m.data.raw import fingerprint_files, load_raw_dataset


@pytest.fixture(scope="module")
def dblp_config() -> DatasetConfig:
    return DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "dblp.yaml"))


def test_dblp_counts_and_hgb_split(dblp_config):
    snapshot = load_raw_dataset(dblp_config)
    manifest = snapshot.manifest
    assert {t: i.count for t, i in manifest.node_types.items()} == {"author": 4057, "paper": 14328, "term": 7723, "venue": 20}
    assert {r.name: r.num_edges for r in manifest.relations} == {"paper_author": 19645, "paper_term": 85810, "paper_venue": 14328}
    assert {t: i.feature_dim for t, i in manifest.node_types.items()} == {"author": 334, "paper": 4231, "term": 50, "venue": 0}
    split = collections.Counter(snapshot.target_table().column("split").to_pylist())
    assert split == {"train": 974, "val": 243, "test": 2840}  # HGB: 1217 train+val (80/20), 2840 test
    assert collections.Counter(snapshot.target_table().column("label").to_pylist()) == {0: 1197, 1: 745, 2: 1109, 3: 1006}


def test_magnn_split(dblp_config):
    snapshot = load_raw_dataset(dblp_config.model_copy(update={"split": "magnn"}))
    split = collections.Counter(snapshot.target_table().column("split").to_pylist())
    assert split == {"train": 400, "val": 400, "test": 3257}


def test_loading_is_deterministic(dblp_config):
    assert load_raw_dataset(dblp_config).manifest.content_hash == load_raw_dataset(dblp_config).manifest.content_hash


def test_missing_raw_file_is_named(dblp_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        load_raw_dataset(dblp_config.model_copy(update={"raw_dir": tmp_path}))


def test_fingerprint_changes_with_any_raw_file(tmp_path):
    (tmp_path / "a.txt").write_text("1\t2\n")
    before = fingerprint_files(tmp_path)
    (tmp_path / "a.txt").write_text("1\t3\n")
    assert fingerprint_files(tmp_path) != before
