"""The HGB-format loader: a tiny dataset written in HGB's format by the test, and HGB's real ACM and IMDB zips."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hg2m.config import CONFIG_DIR, DatasetConfig, read_yaml
from hg2m.data.raw import load_raw_dataset
from hg2m.data.snapshot import UNKNOWN_LABEL

INFO = {
    "node.dat": {"node type": {"0": "paper", "1": "author", "2": "term"}},
    "link.dat": {"link type": {
        "0": {"start": 0, "end": 1, "meaning": "paper-author"},
        "1": {"start": 1, "end": 0, "meaning": "author-paper"},
        "2": {"start": 0, "end": 2, "meaning": "paper->term"},
        "3": {"start": 0, "end": 0, "meaning": "paper-cite-paper"},
    }},
    "label.dat": {"node type": {"0": {"0": "a", "1": "b"}}},
}
# ids 0..5 papers (dense 3-d features), 6..8 authors (sparse 4-d), 9..10 terms (no features)
NODES = [f"{i}\tp{i}\t0\t{i},1.5,0" for i in range(6)] + [
    "6\ta0\t1\t0,0,0,1", "7\ta1\t1\t0,0,0,0", "8\ta2\t1\t0,0,0,0", "9\tt0\t2", "10\tt1\t2"]
LINKS = ["0\t6\t0\t1", "1\t7\t0\t1", "6\t0\t1\t1", "7\t1\t1\t1",  # author-paper is the reverse of paper-author
         "0\t9\t2\t1", "2\t10\t2\t1", "0\t1\t3\t1", "1\t2\t3\t1"]
TRAIN_VAL = ["0\t\t0\t1", "1\t\t0\t0", "2\t\t0\t1", "3\t\t0\t0", "4\t\t0\t1"]
TEST = ["5\t\t0\t0"]
TEST_FULL = ["5\t\t0\t1"]  # HGB's placeholder: must not be read


def write_hgb(folder: Path, labels: list[str] = TRAIN_VAL, links: list[str] = LINKS, nodes: list[str] = NODES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"info.dat": json.dumps(INFO), "node.dat": "\n".join(nodes) + "\n", "link.dat": "\r\n".join(links),
             "label.dat": "\n".join(labels) + "\n", "label.dat.test": "\n".join(TEST) + "\n",
             "label.dat.test_full": "\n".join(TEST_FULL) + "\n"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def config_for(folder: Path, **changes) -> DatasetConfig:
    return DatasetConfig(name="tiny_hgb", loader="hgb", raw_dir=folder, target_type="paper", num_classes=2,
                         split="hgb", val_fraction=0.4, **changes)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_hgb(tmp_path / "tiny")


def test_reads_types_features_and_keeps_one_direction_of_each_link(tiny):
    snapshot = load_raw_dataset(config_for(tiny))
    infos = snapshot.manifest.node_types
    assert {t: (i.count, i.feature_format, i.feature_dim) for t, i in infos.items()} == {
        "paper": (6, "dense", 3), "author": (3, "sparse", 4), "term": (2, "none", 0)}
    relations = {r.name: (r.src_type, r.dst_type, r.num_edges) for r in snapshot.manifest.relations}
    assert relations == {"paper_author": ("paper", "author", 2), "paper_term": ("paper", "term", 2),
                         "paper_cite_paper": ("paper", "paper", 2)}
    terms = snapshot.edges["paper_term"].to_pydict()
    assert (terms["src"], terms["dst"]) == ([0, 2], [0, 1])  # local ids: term 10 is term 1


def test_labels_and_split_never_read_the_placeholder_test_file(tiny):
    target = snapshot_target(load_raw_dataset(config_for(tiny)))
    assert target["label"] == [1, 0, 1, 0, 1, 0]  # paper 5: label.dat.test's 0, not test_full's 1
    assert sorted(target["split"]) == ["test", "train", "train", "train", "val", "val"]
    assert target["split"][5] == "test"


def test_the_split_depends_on_the_seed_only(tiny):
    splits = [snapshot_target(load_raw_dataset(config_for(tiny, split_seed=s)))["split"] for s in (0, 0, 1, 2, 3)]
    assert splits[0] == splits[1] and any(s != splits[0] for s in splits[2:])


def zipped(files: Path, folder: Path) -> Path:
    """`folder` holding one zip of `files`' HGB files under a top folder, as HGB publishes them."""
    folder.mkdir()
    with zipfile.ZipFile(folder / "TINY.zip", "w") as archive:
        for path in files.iterdir():
            archive.write(path, f"TINY/{path.name}")
    return folder


def test_reads_the_published_zip_with_its_top_folder(tiny, tmp_path):
    folder = zipped(tiny, tmp_path / "zipped")
    zipped_snapshot, extracted = load_raw_dataset(config_for(folder)), load_raw_dataset(config_for(tiny))
    assert zipped_snapshot.manifest.content_hash == extracted.manifest.content_hash


def test_multi_label_files_become_bitmasks_with_multi_label_set(tmp_path):
    labels = ["0\t\t0\t1,0", "1\t\t0\t0", "2\t\t0\t1", "3\t\t0\t0,1", "4\t\t0\t1"]
    snapshot = load_raw_dataset(config_for(write_hgb(tmp_path / "multi", labels=labels), multi_label=True))
    assert snapshot.manifest.multi_label
    assert snapshot_target(snapshot)["label"] == [3, 1, 2, 3, 2, 1]  # {0, 1}, {0}, {1}, {0, 1}, {1}; test {0}


def test_a_file_beside_the_zip_replaces_the_zips_file(tiny, tmp_path):
    folder = zipped(tiny, tmp_path / "zipped")
    (folder / "label.dat.test").write_text("5\t\t0\t1\n")
    assert snapshot_target(load_raw_dataset(config_for(folder)))["label"][5] == 1


def test_unlabelled_papers_have_no_label(tmp_path):
    target = snapshot_target(load_raw_dataset(config_for(write_hgb(tmp_path / "t", labels=TRAIN_VAL[:4]))))
    assert target["label"][4] == UNKNOWN_LABEL and target["split"][4] == "none"


@pytest.mark.parametrize(("change", "message"), [
    ({"labels": [*TRAIN_VAL[:4], "4\t\t0\t0,1"]}, "row 5 lists several classes: .* needs `multi_label: true`"),
    ({"labels": [*TRAIN_VAL[:4], "4\t\t0\t"]}, "row 5: a label is a class id or a comma list"),
    ({"labels": [*TRAIN_VAL[:4], "4\t\t0\t2"]}, "classes outside 0..1"),
    ({"labels": [*TRAIN_VAL[:4], "7\t\t1\t0"]}, "labels on a type other than the target"),
    ({"links": [*LINKS, "0\t7\t0\t0.5"]}, "edge weights other than 1"),
    ({"nodes": [NODES[0], NODES[6], *NODES[1:6], *NODES[7:]]}, "ids must be 0, 1, 2"),
    ({"nodes": [*NODES[:7], "7\ta1\t1", *NODES[8:]]}, "some author nodes have features and some do not"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, change, message):
    folder = write_hgb(tmp_path / "bad", **change)
    with pytest.raises(ValueError, match=message) as error:
        load_raw_dataset(config_for(folder))
    assert str(folder) in str(error.value)


def test_a_folder_without_hgb_files_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected HGB's files"):
        load_raw_dataset(config_for(tmp_path))


def test_hgb_acm_as_shipped():
    """Counts stated in data/raw/hgb_acm/SOURCE.md."""
    config = DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "hgb_acm.yaml"))
    snapshot = load_raw_dataset(config)
    assert {t: i.count for t, i in snapshot.manifest.node_types.items()} == {
        "paper": 3025, "author": 5959, "subject": 56, "term": 1902}
    assert {r.name: r.num_edges for r in snapshot.manifest.relations} == {
        "paper_cite_paper": 5343, "paper_author": 9949, "paper_subject": 3025, "paper_term": 255619}
    target = snapshot_target(snapshot)
    split, labels = np.array(target["split"]), np.array(target["label"])
    assert {part: int((split == part).sum()) for part in ("train", "val", "test", "none")} == {
        "train": 726, "val": 181, "test": 1059, "none": 1059}
    assert np.bincount(labels[split == "test"]).tolist() == [355, 340, 364]
    assert bool(np.all(labels[split == "none"] == UNKNOWN_LABEL))


def test_hgb_imdb_as_shipped_with_the_full_test_set():
    """Counts stated in data/raw/hgb_imdb/SOURCE.md: multi-label, and the test labels beside the zip (3202)."""
    config = DatasetConfig.model_validate(read_yaml(CONFIG_DIR / "datasets" / "hgb_imdb.yaml"))
    snapshot = load_raw_dataset(config)
    assert snapshot.manifest.multi_label
    assert {t: i.count for t, i in snapshot.manifest.node_types.items()} == {
        "movie": 4932, "director": 2393, "actor": 6124, "keyword": 7971}
    assert {r.name: r.num_edges for r in snapshot.manifest.relations} == {
        "movie_director": 4932, "movie_actorh": 14779, "movie_keyword": 23610}
    target = snapshot_target(snapshot)
    split, labels = np.array(target["split"]), np.array(target["label"])
    assert {part: int((split == part).sum()) for part in ("train", "val", "test", "none")} == {
        "train": 1097, "val": 274, "test": 3202, "none": 359}
    set_sizes = np.bincount([bin(code).count("1") for code in labels[split == "test"]])
    assert set_sizes.tolist() == [0, 1348, 1397, 433, 24]


def snapshot_target(snapshot) -> dict[str, list]:
    return snapshot.target_table().select(["label", "split"]).to_pydict()
