"""The IGB-like generator: sizes as asked, a valid snapshot, class signal, heavy tails, nothing half-written."""

import numpy as np
import pytest

from hg2m.config import SyntheticGraphConfig
from hg2m.data import synthetic
from hg2m.data.snapshot import read_snapshot
from hg2m.data.synthetic import PopularityPool, generate_snapshot, node_counts
from hg2m.data.validation import validate_snapshot

# chunk_size below the node counts: every type is written in several chunks
SMALL = SyntheticGraphConfig(num_papers=3000, num_classes=5, train=300, val=100, test=600, chunk_size=700,
                             paper_feature_dim=16, side_feature_dim=4, feature_noise=1.0)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "igb-small"
    manifest = generate_snapshot(SMALL, out)
    return manifest, read_snapshot(out)  # read_snapshot checks the content hash against the tables


def test_sizes_and_splits_are_as_asked(written):
    manifest, snapshot = written
    assert {t: info.count for t, info in manifest.node_types.items()} == node_counts(SMALL)
    assert node_counts(SMALL) == {"paper": 3000, "author": 1500, "institute": 30, "field": 60}
    papers = snapshot.nodes["paper"].to_pandas()
    assert papers["split"].value_counts().to_dict() == {"none": 2000, "test": 600, "train": 300, "val": 100}
    assert (papers.loc[papers["split"] == "none", "label"] == -1).all()
    assert papers.loc[papers["split"] != "none", "label"].between(0, 4).all()
    assert papers["id"].tolist() == list(range(3000))  # chunks appended in id order
    for relation in manifest.relations:
        assert relation.num_edges == len(snapshot.edges[relation.name]) > 0


def test_output_passes_validation(written):
    assert validate_snapshot(written[1])["success"]


def test_features_and_edges_carry_the_class(written):
    _, snapshot = written
    papers = snapshot.nodes["paper"].to_pandas()
    labelled = papers[papers["label"] >= 0]
    features = np.stack(labelled["feat"].to_numpy())
    labels = labelled["label"].to_numpy()
    train = (labelled["split"] == "train").to_numpy()
    # nearest class mean (blind to the sub-clusters), fitted on train, scored on the rest: twice chance (1/5)
    means = np.stack([features[train & (labels == c)].mean(0) for c in range(5)])
    predicted = np.argmin(((features[~train, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == labels[~train]).mean() > 0.4
    # cites: with homophily 0.8 most known-label pairs share the class
    cites = snapshot.edges["cites"].to_pandas()
    label_of = papers["label"].to_numpy()
    known = (label_of[cites["src"]] >= 0) & (label_of[cites["dst"]] >= 0)
    assert (label_of[cites["src"]][known] == label_of[cites["dst"]][known]).mean() > 0.7
    assert (cites["src"] != cites["dst"]).all()
    assert not cites.duplicated().any()


def test_degrees_are_heavy_tailed(written):
    _, snapshot = written
    for relation in ("cites", "written_by"):  # 60 fields are too few for a tail at this size
        in_degree = np.bincount(snapshot.edges[relation].column("dst").to_numpy())
        assert in_degree.max() > 8 * in_degree[in_degree > 0].mean(), relation


def test_popularity_pool_draws_within_the_class():
    rng = np.random.default_rng(0)
    classes = np.array([0, 1, 0, 1, 2, 0])
    pool = PopularityPool.build(rng, classes, num_classes=4, exponent=1.0)
    drawn = pool.draw(rng, np.array([0] * 50 + [2] * 50 + [3] * 20), homophily=1.0)
    assert set(classes[drawn[:50]]) == {0} and set(drawn[50:100]) == {4}
    assert set(drawn[100:]) <= set(range(6))  # class 3 has no nodes: drawn from all


def test_existing_folder_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken: already exists"):
        generate_snapshot(SMALL, tmp_path / "taken")


def test_a_failure_leaves_no_snapshot_behind(tmp_path, monkeypatch):
    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "side_chunk", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_snapshot(SMALL, tmp_path / "igb")
    assert list(tmp_path.iterdir()) == []


def test_splits_must_fit_in_the_papers():
    with pytest.raises(ValueError, match="exceeds num_papers"):
        SyntheticGraphConfig(num_papers=100, train=50, val=30, test=30)


def test_run_py_generate_writes_a_snapshot_and_refuses_bad_requests(tmp_path, capsys):
    import run

    out = tmp_path / "igb-tiny"
    flags = ["--papers", "2000", "--train", "100", "--val", "50", "--test", "200", "--seed", "3"]
    assert run.main(["generate", "--out", str(out), *flags]) == 0
    manifest = read_snapshot(out).manifest
    assert manifest.node_types["paper"].count == 2000 and manifest.target_type == "paper"
    assert "Wrote" in capsys.readouterr().out
    assert run.main(["generate", "--out", str(out), *flags]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    assert run.main(["generate", "--out", str(tmp_path / "other"), "--papers", "100"]) == 2  # splits too big
    assert "exceeds num_papers" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
