"""Snapshot -> DGL heterograph with features, labels and split indices, ready for training."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dgl
import numpy as np
import pyarrow as pa
import torch

from hg2m.config import GraphConfig
from hg2m.data.snapshot import (
    DST_COLUMN,
    FEAT_COLUMN,
    FEAT_IDX_COLUMN,
    FEAT_VAL_COLUMN,
    LABEL_COLUMN,
    LABELLED_SPLITS,
    SPLIT_COLUMN,
    SRC_COLUMN,
    GraphSnapshot,
    RelationInfo,
    SnapshotManifest,
)
from hg2m.labels import decode_bitmasks

GRAPH_FILE = "graph.bin"
TENSORS_FILE = "tensors.pt"
META_FILE = "meta.json"
REVERSE_PREFIX = "rev_"


@dataclass
class HeteroGraphData:
    """A heterograph plus what training needs.

    features: per node type with features, a dense (N_t, D_t) float tensor or a sparse COO one.
    labels: (N,) int64 for the target type, UNKNOWN_LABEL where unknown; multi-label, (N, C) float32 0/1
        indicators, all 0 where unknown (hg2m.labels).
    splits: name -> int64 index tensor into the target type, one per LABELLED_SPLITS name.
    """

    graph: dgl.DGLGraph
    features: dict[str, torch.Tensor]
    labels: torch.Tensor
    splits: dict[str, torch.Tensor]
    target_type: str
    num_classes: int
    snapshot_hash: str

    @property
    def num_target_nodes(self) -> int:
        return self.graph.num_nodes(self.target_type)

    def target_features(self) -> torch.Tensor:
        """Dense (N, D) features of the target type: the student's only input."""
        if self.target_type not in self.features:
            raise ValueError(f"target type {self.target_type!r} has no features: an MLP student needs them")
        feats = self.features[self.target_type]
        return feats.to_dense() if feats.is_sparse else feats

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dgl.save_graphs(str(folder / GRAPH_FILE), [self.graph])
        torch.save({"features": self.features, "labels": self.labels, "splits": self.splits}, folder / TENSORS_FILE)
        meta = {"target_type": self.target_type, "num_classes": self.num_classes, "snapshot_hash": self.snapshot_hash}
        (folder / META_FILE).write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> "HeteroGraphData":
        folder = Path(folder)
        graphs, _ = dgl.load_graphs(str(folder / GRAPH_FILE))
        tensors = torch.load(folder / TENSORS_FILE)
        meta = json.loads((folder / META_FILE).read_text())
        return cls(graph=graphs[0], **tensors, **meta)


def dense_features(column: pa.ChunkedArray, dim: int) -> torch.Tensor:
    values = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(np.array(values, dtype=np.float32).reshape(-1, dim))


def sparse_features(idx_column: pa.ChunkedArray, val_column: pa.ChunkedArray, dim: int) -> torch.Tensor:
    idx = idx_column.combine_chunks()
    offsets = idx.offsets.to_numpy()
    rows = np.repeat(np.arange(len(idx)), np.diff(offsets))
    cols = idx.flatten().to_numpy(zero_copy_only=False)
    vals = val_column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    indices = torch.from_numpy(np.stack([rows, cols]).astype(np.int64))
    return torch.sparse_coo_tensor(indices, torch.from_numpy(vals.astype(np.float32)), (len(idx), dim)).coalesce()


def node_features(snapshot: GraphSnapshot) -> dict[str, torch.Tensor]:
    features = {}
    for node_type, info in snapshot.manifest.node_types.items():
        table = snapshot.nodes[node_type]
        if info.feature_format == "dense":
            features[node_type] = dense_features(table.column(FEAT_COLUMN), info.feature_dim)
        elif info.feature_format == "sparse":
            idx, val = table.column(FEAT_IDX_COLUMN), table.column(FEAT_VAL_COLUMN)
            features[node_type] = sparse_features(idx, val, info.feature_dim)
    return features


def graph_relations(
    relations: list[RelationInfo], edges: Callable[[RelationInfo], tuple[torch.Tensor, torch.Tensor]],
    add_reverse_edges: bool,
) -> dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]]:
    """DGL's relation dict: each snapshot relation with its (src, dst) ids, plus `rev_<name>` the other way."""
    data = {}
    for rel in relations:
        src, dst = edges(rel)
        data[(rel.src_type, rel.name, rel.dst_type)] = (src, dst)
        if add_reverse_edges:
            data[(rel.dst_type, REVERSE_PREFIX + rel.name, rel.src_type)] = (dst, src)
    return data


def build_heterograph(snapshot: GraphSnapshot, add_reverse_edges: bool) -> dgl.DGLGraph:
    """One DGL relation per snapshot relation, plus `rev_<name>` in the other direction if asked."""

    def edges(rel: RelationInfo) -> tuple[torch.Tensor, torch.Tensor]:
        table = snapshot.edges[rel.name]
        return tuple(torch.from_numpy(table.column(c).to_numpy().copy()) for c in (SRC_COLUMN, DST_COLUMN))

    num_nodes = {t: info.count for t, info in snapshot.manifest.node_types.items()}
    data = graph_relations(snapshot.manifest.relations, edges, add_reverse_edges)
    return dgl.heterograph(data, num_nodes_dict=num_nodes, idtype=torch.int64)


def schema_graph(node_types: list[str], relations: list[RelationInfo], add_reverse_edges: bool) -> dgl.DGLGraph:
    """The graph's relations with no nodes or edges: enough to resolve meta-paths before any data is loaded."""
    empty = torch.empty(0, dtype=torch.int64)
    data = graph_relations(relations, lambda rel: (empty, empty), add_reverse_edges)
    return dgl.heterograph(data, num_nodes_dict={t: 0 for t in node_types}, idtype=torch.int64)


def target_labels(column: np.ndarray, manifest: SnapshotManifest) -> torch.Tensor:
    """The label column as training reads it: classes, or multi-label indicators decoded from bitmasks."""
    if manifest.multi_label:
        return torch.from_numpy(decode_bitmasks(column, manifest.num_classes))
    return torch.from_numpy(column.copy())


def index_mask(ids: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """(num_nodes,) bool, True at `ids` (on their device)."""
    mask = torch.zeros(num_nodes, dtype=torch.bool, device=ids.device)
    mask[ids] = True
    return mask


def split_indices(split: np.ndarray) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.flatnonzero(split == name)) for name in LABELLED_SPLITS}


def build_graph_data(snapshot: GraphSnapshot, config: GraphConfig) -> HeteroGraphData:
    """Turn a (validated) snapshot into a heterograph with features, labels and splits."""
    target = snapshot.target_table()
    return HeteroGraphData(
        graph=build_heterograph(snapshot, config.add_reverse_edges),
        features=node_features(snapshot),
        labels=target_labels(target.column(LABEL_COLUMN).to_numpy(), snapshot.manifest),
        splits=split_indices(np.asarray(target.column(SPLIT_COLUMN).to_pylist(), dtype=object)),
        target_type=snapshot.manifest.target_type,
        num_classes=snapshot.manifest.num_classes,
        snapshot_hash=snapshot.manifest.content_hash,
    )
