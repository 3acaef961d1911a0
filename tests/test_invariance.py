"""Features in other units leave every teacher exactly where it was on DBLP, and a column of raw counts in the
thousands collapses none: the preprocessing step (hg2m.data.transforms) takes units and tails out before
anything trains."""

import dataclasses

import pytest
import torch

from hg2m.config import CONFIG_DIR, TEACHER_NAMES, load_run_config
from hg2m.data.graph import HeteroGraphData, build_graph_data
from hg2m.data.raw import load_raw_dataset
from hg2m.data.transforms import apply_transforms, fit_transforms
from hg2m.teacher import train_teacher

pytestmark = pytest.mark.e2e

DISTILL = CONFIG_DIR / "pipelines" / "distill.yaml"
EPOCHS = 20  # enough to separate a working teacher from a collapsed one
SEEDS = (0, 1)  # one seed's test accuracy moves by about a point with any change of input: compare means
# A raw count column in the thousands used to collapse attention teachers to near the majority class (tens of
# points). After preprocessing the column is one more feature in [0, 1]: measured at 20 epochs, mean of seeds
# 0 and 1, RGCN (+0.6) and HGT stay within a point, HAN moves by -2.7 and Simple-HGN by +1.8. Trained to the end
# (benchmarks.invariance, seeds 0-2) HAN moves by +0.41 ± 1.01 and Simple-HGN by +0.01 ± 0.05 (docs/results.md);
# at this training length this bound guards against collapse.
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def dblp() -> HeteroGraphData:
    config = load_run_config(DISTILL, "dblp")
    return build_graph_data(load_raw_dataset(config.dataset), config.graph)


def preprocessed(data: HeteroGraphData) -> HeteroGraphData:
    return dataclasses.replace(data, features=apply_transforms(data.features, fit_transforms(data.features)))


def with_features(data: HeteroGraphData, node_type: str, features: torch.Tensor) -> HeteroGraphData:
    return dataclasses.replace(data, features={**data.features, node_type: features})


def scaled(data: HeteroGraphData) -> HeteroGraphData:
    """Paper features (sparse bag-of-words) in other units: every value times 1000."""
    return with_features(data, "paper", data.features["paper"] * 1000)


def with_count_column(data: HeteroGraphData) -> HeteroGraphData:
    """Authors get one more column: heavy-tailed counts, most below ten, some in the thousands."""
    authors = data.features["author"].to_dense()
    torch.manual_seed(0)
    counts = torch.distributions.Pareto(torch.tensor(1.0), torch.tensor(0.8)).sample((len(authors), 1)).floor()
    assert counts.max() > 1000
    return with_features(data, "author", torch.cat([authors, counts], dim=1))


def test_features_in_other_units_preprocess_to_the_same_features(dblp):
    before, after = preprocessed(dblp).features, preprocessed(scaled(dblp)).features
    for node_type in before:
        torch.testing.assert_close(after[node_type].to_dense(), before[node_type].to_dense(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("teacher", TEACHER_NAMES)
def test_a_column_of_counts_in_the_thousands_collapses_no_teacher(dblp, teacher):
    config = load_run_config(DISTILL, "dblp", {"teacher.optim.max_epochs": EPOCHS}, teacher=teacher)

    def test_accuracy(data: HeteroGraphData) -> float:
        """Mean test accuracy over SEEDS."""
        data = preprocessed(data)
        return sum(train_teacher(data, config.teachers[0], config.graph, seed, torch.device("cpu"),
                                 metapaths=config.dataset.metapaths).metrics["test"]["accuracy"] for seed in SEEDS) / len(SEEDS)

    assert test_accuracy(with_count_column(dblp)) == pytest.approx(test_accuracy(dblp), abs=TOLERANCE)
