"""AMiner (HeCo): 6564 papers classified into 4 classes, with their 13329 authors and 35890 references.

Raw files (see `data/raw/aminer/SOURCE.md`), all directly in the raw folder: `labels.npy` (int64), the
edge lists `pa.txt` (paper, author) and `pr.txt` (paper, reference), and HeCo's few-label splits
`{train,val,test}_{20,40,60}.npy`. No node type has features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hg2m.config import DatasetConfig
from hg2m.data.raw.files import assemble_snapshot, check, check_config, heco_split, require
from hg2m.data.snapshot import GraphSnapshot

TARGET_TYPE = "paper"
NODE_COUNTS = {"paper": 6564, "author": 13329, "reference": 35890}  # no type has features
NUM_CLASSES = 4
RELATION_FILES = {"paper_author": ("pa.txt", "paper", "author"),
                  "paper_reference": ("pr.txt", "paper", "reference")}
EDGE_COUNTS = {"paper_author": 18007, "paper_reference": 58831}
SPLITS = ("20", "40", "60")  # HeCo's labelled papers per class in train; val and test are 1000 each


def read_labels(path: Path) -> np.ndarray:
    """labels.npy: int64 class ids 0..3, one per paper."""
    raw = np.load(require(path), allow_pickle=False)
    count = NODE_COUNTS[TARGET_TYPE]
    check(raw.shape == (count,), path, f"expected {count} labels, found shape {raw.shape}")
    check(np.issubdtype(raw.dtype, np.integer), path, f"labels are {raw.dtype}, not integers")
    labels = raw.astype(np.int64)
    check(bool(np.all((labels >= 0) & (labels < NUM_CLASSES))), path, f"labels outside 0..{NUM_CLASSES - 1}")
    return labels


def read_edges(folder: Path, name: str) -> np.ndarray:
    """(E, 2) int64 local-id pairs of one relation, with the documented edge count and ids in range."""
    file, src_type, dst_type = RELATION_FILES[name]
    path = require(folder / file)
    pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)
    check(len(pairs) == EDGE_COUNTS[name], path, f"expected {EDGE_COUNTS[name]} {name} edges, found {len(pairs)}")
    for column, node_type in enumerate((src_type, dst_type)):
        ids = pairs[:, column]
        check(bool(np.all((ids >= 0) & (ids < NODE_COUNTS[node_type]))), path,
              f"column {column} has {node_type} ids outside 0..{NODE_COUNTS[node_type] - 1}")
    return pairs


def load_aminer(config: DatasetConfig) -> GraphSnapshot:
    """Read HeCo's AMiner files into a snapshot with paper as the target type and no features."""
    check_config(config, "AMiner", SPLITS, TARGET_TYPE)
    folder = config.resolved_raw_dir()
    labels = read_labels(folder / "labels.npy")
    split = heco_split(folder, config.split, len(labels))
    relations = {name: (src, dst, read_edges(folder, name)) for name, (_, src, dst) in RELATION_FILES.items()}
    return assemble_snapshot(config, TARGET_TYPE, NODE_COUNTS, {}, labels, split, relations)
