"""IMDB (MAGNN = PyG `IMDB`): 4278 movies classified into 3 genres, with 2081 directors and 5257 actors.

Raw files (see `data/raw/imdb/SOURCE.md`), all in `magnn/`: `adjM.npz` (symmetric adjacency over global
ids) with `node_types.npy` (0 movie, 1 director, 2 actor), sparse features `features_{0,1,2}.npz`,
`labels.npy` (int32) and the split `train_val_test_idx.npz`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hg2m.config import DatasetConfig
from hg2m.data.raw.files import check, check_config, require, split_column
from hg2m.data.snapshot import LABELLED_SPLITS, GraphSnapshot, RelationInfo, SnapshotManifest, edge_table, node_table

TARGET_TYPE = "movie"
NODE_COUNTS = {"movie": 4278, "director": 2081, "actor": 5257}  # order = type code in node_types.npy
RELATIONS = {"movie_director": "director", "movie_actor": "actor"}  # movie -> this type
EDGE_COUNTS = {"movie_director": 4278, "movie_actor": 12828}
SPLITS = ("magnn",)


def type_ranges(path: Path) -> dict[str, slice]:
    """Global-id range of each node type, from node_types.npy (contiguous ranges in type-code order)."""
    codes = np.load(require(path), allow_pickle=False)
    check(bool(np.all(np.diff(codes) >= 0)), path, "node types are not in contiguous ranges")
    counts = np.bincount(codes, minlength=len(NODE_COUNTS))
    expected = list(NODE_COUNTS.values())
    check(counts.tolist() == expected, path, f"expected {expected} nodes per type, found {counts.tolist()}")
    starts = np.r_[0, np.cumsum(counts)]
    return {t: slice(int(starts[i]), int(starts[i + 1])) for i, t in enumerate(NODE_COUNTS)}


def read_adjacency(path: Path) -> sp.csr_matrix:
    """adjM.npz, checked symmetric with exactly the documented edges (so no other block holds any)."""
    adj = sp.csr_matrix(sp.load_npz(require(path)))
    check((adj != adj.T).nnz == 0, path, "adjacency is not symmetric")
    expected = 2 * sum(EDGE_COUNTS.values())  # each undirected pair is stored in both directions
    check(adj.nnz == expected, path, f"expected {expected} non-zeros, found {adj.nnz}")
    return adj


def movie_edges(adj: sp.csr_matrix, ranges: dict[str, slice], name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(movie, other) local ids of one relation: the movie-row block, so each undirected pair once."""
    block = adj[ranges[TARGET_TYPE], ranges[RELATIONS[name]]].tocsr()
    block.sort_indices()
    check(block.nnz == EDGE_COUNTS[name], path, f"expected {EDGE_COUNTS[name]} {name} edges, found {block.nnz}")
    coo = block.tocoo()
    return coo.row.astype(np.int64), coo.col.astype(np.int64)


def read_features(magnn: Path, code: int, node_type: str) -> sp.spmatrix:
    """features_<code>.npz, kept sparse (node_table stores them as index/value lists)."""
    path = require(magnn / f"features_{code}.npz")
    features = sp.load_npz(path)
    count = NODE_COUNTS[node_type]
    check(features.shape[0] == count, path, f"expected {count} {node_type} rows, found {features.shape[0]}")
    return features


def read_labels(path: Path) -> np.ndarray:
    """labels.npy is int32 on disk: int64 for the snapshot."""
    labels = np.load(require(path), allow_pickle=False).astype(np.int64)
    count = NODE_COUNTS[TARGET_TYPE]
    check(labels.shape == (count,), path, f"expected {count} labels, found shape {labels.shape}")
    return labels


def magnn_split(path: Path, num_nodes: int) -> np.ndarray:
    """MAGNN/PyG split: 400 train / 400 val / 3478 test movies."""
    with np.load(require(path), allow_pickle=False) as idx:
        return split_column(num_nodes, {part: idx[f"{part}_idx"] for part in LABELLED_SPLITS},
                            dict.fromkeys(LABELLED_SPLITS, path))


def load_imdb(config: DatasetConfig) -> GraphSnapshot:
    """Read MAGNN's IMDB files into a snapshot with movie as the target type."""
    check_config(config, "IMDB", SPLITS, TARGET_TYPE)
    magnn = config.resolved_raw_dir() / "magnn"
    labels = read_labels(magnn / "labels.npy")
    split = magnn_split(magnn / "train_val_test_idx.npz", len(labels))
    nodes, infos = {}, {}
    for code, (node_type, count) in enumerate(NODE_COUNTS.items()):
        is_target = node_type == TARGET_TYPE
        nodes[node_type], infos[node_type] = node_table(
            count, read_features(magnn, code, node_type), labels if is_target else None, split if is_target else None
        )
    ranges = type_ranges(magnn / "node_types.npy")
    adj_path = magnn / "adjM.npz"
    adj = read_adjacency(adj_path)
    edges, relations = {}, []
    for name, dst_type in RELATIONS.items():
        src, dst = movie_edges(adj, ranges, name, adj_path)
        edges[name] = edge_table(src, dst)
        relations.append(RelationInfo(name=name, src_type=TARGET_TYPE, dst_type=dst_type, num_edges=len(src)))
    manifest = SnapshotManifest(
        name=config.name, target_type=TARGET_TYPE, num_classes=config.num_classes,
        class_names=config.class_names, node_types=infos, relations=relations,
    )
    return GraphSnapshot(manifest=manifest, nodes=nodes, edges=edges)
