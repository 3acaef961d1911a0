"""ACM (HeCo): 4019 papers classified into 3 classes, with their 7167 authors and 60 subjects.

Raw files (see `data/raw/acm/SOURCE.md`), all in `heco/`: sparse features `p_feat.npz` (CSR) and
`a_feat.npz` (COO), `labels.npy` (float64), the edge lists `pa.txt` (paper, author) and `ps.txt`
(paper, subject), and HeCo's few-label splits `{train,val,test}_{20,40,60}.npy`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hg2m.config import DatasetConfig
from hg2m.data.raw.files import assemble_snapshot, check, check_config, heco_split, require
from hg2m.data.snapshot import GraphSnapshot

TARGET_TYPE = "paper"
NODE_COUNTS = {"paper": 4019, "author": 7167, "subject": 60}
FEATURE_FILES = {"paper": "p_feat.npz", "author": "a_feat.npz"}  # subjects have no features
RELATION_FILES = {"paper_author": ("pa.txt", "paper", "author"),
                  "paper_subject": ("ps.txt", "paper", "subject")}
EDGE_COUNTS = {"paper_author": 13407, "paper_subject": 4019}
SPLITS = ("20", "40", "60")  # HeCo's labelled papers per class in train; val and test are 1000 each


def read_labels(path: Path) -> np.ndarray:
    """labels.npy is float64 on disk: cast to int64, refusing non-integral values."""
    raw = np.load(require(path), allow_pickle=False)
    labels = raw.astype(np.int64)
    count = NODE_COUNTS[TARGET_TYPE]
    check(raw.shape == (count,), path, f"expected {count} labels, found shape {raw.shape}")
    check(bool(np.all(labels == raw)), path, "labels are not whole numbers")
    return labels


def read_features(heco: Path, node_type: str) -> sp.spmatrix:
    """One type's sparse features, kept sparse (node_table stores them as index/value lists)."""
    path = require(heco / FEATURE_FILES[node_type])
    features = sp.load_npz(path)
    count = NODE_COUNTS[node_type]
    check(features.shape[0] == count, path, f"expected {count} {node_type} rows, found {features.shape[0]}")
    return features


def read_edges(heco: Path, name: str) -> np.ndarray:
    """(E, 2) int64 local-id pairs of one relation, with the documented edge count."""
    path = require(heco / RELATION_FILES[name][0])
    pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)
    check(len(pairs) == EDGE_COUNTS[name], path, f"expected {EDGE_COUNTS[name]} {name} edges, found {len(pairs)}")
    return pairs


def load_acm(config: DatasetConfig) -> GraphSnapshot:
    """Read HeCo's ACM files into a snapshot with paper as the target type."""
    check_config(config, "ACM", SPLITS, TARGET_TYPE)
    heco = config.resolved_raw_dir() / "heco"
    labels = read_labels(heco / "labels.npy")
    split = heco_split(heco, config.split, len(labels))
    features = {node_type: read_features(heco, node_type) for node_type in FEATURE_FILES}
    relations = {name: (src, dst, read_edges(heco, name)) for name, (_, src, dst) in RELATION_FILES.items()}
    return assemble_snapshot(config, TARGET_TYPE, NODE_COUNTS, features, labels, split, relations)
