"""DBLP four-area (MAGNN = PyG = HGB = HeCo graph): authors classified into 4 research areas.

Raw files (see `data/raw/dblp/SOURCE.md`): HeCo's features, labels and edge lists, HGB's label files
for the HGB split, MAGNN's index file for the MAGNN/PyG split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hg2m.config import DatasetConfig
from hg2m.data.raw.files import assemble_snapshot, cut_train_val, require, split_column
from hg2m.data.snapshot import LABELLED_SPLITS, GraphSnapshot

NODE_COUNTS = {"author": 4057, "paper": 14328, "term": 7723, "venue": 20}
RELATION_FILES = {"paper_author": ("pa.txt", "paper", "author"),
                  "paper_term": ("pt.txt", "paper", "term"),
                  "paper_venue": ("pc.txt", "paper", "venue")}
SPLITS = ("hgb", "magnn")


def read_hgb_ids(path: Path) -> np.ndarray:
    """First column of an HGB label file (`id<TAB>name<TAB>type<TAB>label`)."""
    with open(require(path)) as handle:
        return np.array([int(line.split("\t", 1)[0]) for line in handle if line.strip()], dtype=np.int64)


def hgb_split(raw: Path, num_nodes: int, seed: int, val_fraction: float) -> np.ndarray:
    """HGB split: label.dat = train+val, label.dat.test_full = test (its ids; the labels are HeCo's)."""
    test = read_hgb_ids(raw / "hgb" / "label.dat.test_full")
    return cut_train_val(read_hgb_ids(raw / "hgb" / "label.dat"), test, num_nodes, seed, val_fraction)


def magnn_split(raw: Path, num_nodes: int) -> np.ndarray:
    """MAGNN/PyG split: 400 train / 400 val / 3257 test."""
    path = require(raw / "magnn" / "train_val_test_idx.npz")
    with np.load(path, allow_pickle=False) as idx:
        return split_column(num_nodes, {part: idx[f"{part}_idx"] for part in LABELLED_SPLITS},
                            dict.fromkeys(LABELLED_SPLITS, path))


def load_dblp(config: DatasetConfig) -> GraphSnapshot:
    raw = config.resolved_raw_dir()
    heco = raw / "heco"
    labels = np.load(require(heco / "labels.npy"), allow_pickle=False).astype(np.int64)
    if config.split == "hgb":
        split = hgb_split(raw, len(labels), config.split_seed, config.val_fraction)
    elif config.split == "magnn":
        split = magnn_split(raw, len(labels))
    else:
        raise ValueError(f"DBLP split {config.split!r} is not one of {SPLITS}")
    # t_feat.npz is a plain .npy file despite its name (see SOURCE.md).
    features = {
        "author": sp.load_npz(require(heco / "a_feat.npz")),
        "paper": sp.load_npz(require(heco / "p_feat.npz")),
        "term": np.load(require(heco / "t_feat.npz"), allow_pickle=False),
    }  # venues have none
    relations = {name: (src, dst, np.loadtxt(require(heco / file), dtype=np.int64, ndmin=2))
                 for name, (file, src, dst) in RELATION_FILES.items()}
    return assemble_snapshot(config, config.target_type, NODE_COUNTS, features, labels, split, relations)
