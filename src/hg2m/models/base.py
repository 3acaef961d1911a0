"""What every teacher shares: its construction spec, its forward contract, and layer-wise graph handling.

A teacher runs either full-batch on a whole graph (every layer sees the same graph) or on a list of
DGL message-flow blocks from neighbour sampling (one block per layer, the input layer first). In both
cases `forward(graph_or_blocks, features, input_ids)` returns the logits of the target nodes of the
last layer's destination side and the last hidden layer of every node type it computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dgl
import torch
from torch import nn

from hg2m.config import MetaPath
from hg2m.models.output import TeacherOutput

GraphOrBlocks = dgl.DGLGraph | list[dgl.DGLGraph]


@dataclass(frozen=True)
class TeacherSpec:
    """What a teacher needs to know about the graph it will run on.

    feature_dims: node type -> input feature width, for types with features.
    num_nodes: node type -> count (featureless types get a learned embedding of `embedding_dim`).
    canonical_etypes: the graph's (src type, relation, dst type) triples, reverse relations included.
    metapaths: name -> MetaPath from the target back to it (HAN's meta-path graphs).
    """

    feature_dims: dict[str, int]
    num_nodes: dict[str, int]
    canonical_etypes: list[tuple[str, str, str]]
    target_type: str
    num_classes: int
    embedding_dim: int = 64
    metapaths: dict[str, MetaPath] = field(default_factory=dict)

    @property
    def relations(self) -> list[str]:
        return [etype for _, etype, _ in self.canonical_etypes]


class Teacher(nn.Module):
    """Base class: subclasses set `target_type` and `num_layers` and implement `forward`."""

    target_type: str
    num_layers: int

    def init_output(self, width: int, num_classes: int, dropout: float) -> None:
        """Every teacher's output: dropout, then a linear classifier over the last hidden layer (width)."""
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def graph_view(self, graph: dgl.DGLGraph) -> dgl.DGLGraph:
        """The graph this teacher runs (and samples) on, built once from the data's heterograph."""
        return graph

    def forward(
        self, graph: GraphOrBlocks, features: dict[str, torch.Tensor], input_ids: dict[str, torch.Tensor] | None = None
    ) -> TeacherOutput:
        """graph: `graph_view(g)` (full batch) or `num_layers` sampled blocks of it; features: node type ->
        every node's features (N_t, D_t), dense or sparse COO; input_ids: with blocks, node type -> ids of the
        first block's source nodes (None for full batch)."""
        raise NotImplementedError


def layer_graphs(graph: GraphOrBlocks, num_layers: int) -> list[dgl.DGLGraph]:
    """One graph per layer: the same whole graph for full batch, or the sampled blocks as they are."""
    if isinstance(graph, dgl.DGLGraph):
        return [graph] * num_layers
    if len(graph) != num_layers:
        raise ValueError(f"got {len(graph)} blocks for a {num_layers}-layer teacher (fanouts must match num_layers)")
    return list(graph)


def destination_part(graph: dgl.DGLGraph, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The destination-side rows of each type: a block's dst nodes come first among its src nodes
    (DGL's convention); on a whole graph source and destination are the same nodes."""
    if not graph.is_block:
        return h
    return {t: x[: graph.num_dst_nodes(t)] for t, x in h.items() if t in graph.dsttypes}


def ids_by_type(ids: torch.Tensor | dict[str, torch.Tensor], graph: dgl.DGLGraph) -> dict[str, torch.Tensor]:
    """DGL's samplers return plain tensors, not dicts, on a graph with one node type (HAN's meta-path
    graph): always a dict, so that every teacher sees one form."""
    return ids if isinstance(ids, dict) else {graph.ntypes[0]: ids}
