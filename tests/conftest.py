"""Test isolation, tiny graphs, the generator's small graphs and the distributed workers a test started.

ZenML reads its config path once, when zenml is imported, and test modules import zenml when they are
collected. `pytest_configure` runs before collection, so it points ZenML (and the `mlflow_uri` fixture)
at a throw-away folder there: tests never touch the project's .zenml_home or mlflow_store.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import psutil
import pytest
import scipy.sparse as sp

from hg2m.config import SyntheticGraphConfig
from hg2m.data.snapshot import (
    GraphSnapshot,
    RelationInfo,
    SnapshotManifest,
    edge_table,
    node_table,
    read_snapshot,
    with_hash,
)
from hg2m.data.synthetic import generate_snapshot
from hg2m.distributed.cluster import WORKER_MODULE
from hg2m.environment import use_private_stores

TEST_HOME = pytest.StashKey[Path]()  # the session's throw-away store folder


def pytest_configure(config: pytest.Config) -> None:
    """Before collection (so before anything imports zenml): private ZenML store and repository."""
    config.stash[TEST_HOME] = Path(tempfile.mkdtemp(prefix="hg2m-tests-"))
    use_private_stores(config.stash[TEST_HOME])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(session.config.stash[TEST_HOME], ignore_errors=True)


# A tiny heterograph: 6 authors (target, dense features, 2 classes), 4 papers (sparse features),
# 2 venues (no features). Paper p is written by authors PAPER_AUTHOR[p] and published in venue p % 2.
AUTHOR_FEATURES = np.arange(18, dtype=np.float32).reshape(6, 3) / 10
PAPER_FEATURES = sp.csr_matrix(np.array([[1, 0, 0, 2, 0], [0, 1, 0, 0, 0], [0, 0, 3, 0, 1], [1, 1, 0, 0, 0]], dtype=np.float32))
LABELS = np.array([0, 1, 0, 1, 0, 1])
SPLIT = np.array(["train", "train", "val", "val", "test", "test"], dtype=object)
PAPER_AUTHOR = [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4), (3, 5), (3, 0)]
PAPER_VENUE = [(0, 0), (1, 1), (2, 0), (3, 1)]


def make_tiny_snapshot() -> GraphSnapshot:
    nodes, infos = {}, {}
    nodes["author"], infos["author"] = node_table(6, AUTHOR_FEATURES, LABELS, SPLIT)
    nodes["paper"], infos["paper"] = node_table(4, PAPER_FEATURES)
    nodes["venue"], infos["venue"] = node_table(2)
    pa, pv = np.array(PAPER_AUTHOR), np.array(PAPER_VENUE)
    edges = {"paper_author": edge_table(pa[:, 0], pa[:, 1]), "paper_venue": edge_table(pv[:, 0], pv[:, 1])}
    relations = [
        RelationInfo(name="paper_author", src_type="paper", dst_type="author", num_edges=len(pa)),
        RelationInfo(name="paper_venue", src_type="paper", dst_type="venue", num_edges=len(pv)),
    ]
    manifest = SnapshotManifest(name="tiny", target_type="author", num_classes=2, node_types=infos, relations=relations)
    return with_hash(GraphSnapshot(manifest=manifest, nodes=nodes, edges=edges))


@pytest.fixture
def tiny_snapshot() -> GraphSnapshot:
    return make_tiny_snapshot()


def generated_snapshot(config: SyntheticGraphConfig, folder: Path) -> GraphSnapshot:
    """The generator's graph for `config`, written to `folder` and read back."""
    generate_snapshot(config, folder)
    return read_snapshot(folder)


def worker_processes() -> list[psutil.Process]:
    """The processes of hg2m's distributed worker (servers, trainers, student ranks) this test process started."""
    return [p for p in psutil.Process().children(recursive=True) if WORKER_MODULE in " ".join(p.cmdline())]


@pytest.fixture(scope="session")
def mlflow_uri(pytestconfig: pytest.Config) -> str:
    """A throw-away MLflow SQLite store for the whole test session."""
    return f"sqlite:///{pytestconfig.stash[TEST_HOME] / 'mlflow.db'}"
