"""HAN teacher (Wang et al., WWW 2019): node-level attention per meta-path, semantic attention across them.

HAN runs on meta-path graphs of the target type, not on the typed graph: `graph_view` turns the data's
heterograph into one target -> target relation per meta-path (self-loops added, as meta-path
reachability includes every node itself). Per layer and meta-path P, a multi-head GAT gives z^P; the
semantic attention then weighs the meta-paths, beta_P = softmax_P(mean_i q^T tanh(W z_i^P + b)), and
h = sum_P beta_P z^P. Only the target type's features are used, and only the target type has
embeddings (for HIRE's relation-level term, other types get the mean of their target neighbours').

Choices: each node keeps its top-`metapath_max_neighbours` meta-path neighbours by path count (as the
meta-path step does), so dense meta-paths (A-P-V-P-A reaches most of DBLP) stay bounded; with sampled
blocks the semantic mean runs over the block's destination nodes, as in DGL's mini-batch HAN.
"""

from __future__ import annotations

import dgl
import numpy as np
import torch
from dgl.nn import GATConv
from torch import nn

from hg2m.config import HANConfig, MetaPath
from hg2m.graphs.metapaths import adjacency_chain, capped_pairs, metapath_hops
from hg2m.models.base import GraphOrBlocks, Teacher, TeacherSpec, destination_part, layer_graphs
from hg2m.models.inputs import TypeInputs
from hg2m.models.output import TeacherOutput

PAIR_CHUNK_ROWS = 1024  # rows of the meta-path product held at once


def metapath_graph(
    graph: dgl.DGLGraph, metapaths: dict[str, MetaPath], target: str, max_neighbours: int
) -> dgl.DGLGraph:
    """One relation per meta-path on the target type: capped neighbour pairs both ways, plus self-loops."""
    n = graph.num_nodes(target)
    relations = {}
    for name, path in metapaths.items():
        chain = adjacency_chain(graph, metapath_hops(graph, path, target))
        pairs = capped_pairs(chain, max_neighbours, 1, PAIR_CHUNK_ROWS)
        i, j, loops = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy(), np.arange(n)
        src, dst = np.r_[i, j, loops], np.r_[j, i, loops]
        relations[(target, name, target)] = (torch.from_numpy(src), torch.from_numpy(dst))
    return dgl.heterograph(relations, num_nodes_dict={target: n}, idtype=torch.int64)


class SemanticAttention(nn.Module):
    """beta_P = softmax over meta-paths of the mean over nodes of q^T tanh(W z^P + b); returns sum_P beta_P z^P."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, P, D) -> (N, D)."""
        beta = torch.softmax(self.score(z).mean(0), dim=0)  # (P, 1)
        return (beta.unsqueeze(0) * z).sum(1)


class HANLayer(nn.Module):
    def __init__(self, metapaths: list[str], in_dim: int, out_dim: int, config: HANConfig):
        super().__init__()
        self.gats = nn.ModuleDict({
            name: GATConv(in_dim, out_dim, config.num_heads, config.dropout, config.attn_dropout,
                          config.negative_slope, activation=nn.functional.elu, allow_zero_in_degree=True)
            for name in metapaths
        })
        self.semantic = SemanticAttention(out_dim * config.num_heads, out_dim)

    def forward(self, graph: dgl.DGLGraph, target: str, h_src: torch.Tensor, h_dst: torch.Tensor) -> torch.Tensor:
        z = [gat(graph[name], (h_src, h_dst)).flatten(1) for name, gat in self.gats.items()]
        return self.semantic(torch.stack(z, dim=1))


class HAN(Teacher):
    def __init__(self, spec: TeacherSpec, config: HANConfig):
        super().__init__()
        if not spec.metapaths:
            raise ValueError("the HAN teacher needs meta-paths: set `metapaths` in the dataset config")
        if spec.target_type not in spec.feature_dims:
            raise ValueError(f"the HAN teacher needs features on the target type {spec.target_type!r}")
        self.target_type, self.num_layers = spec.target_type, config.num_layers
        self.metapaths, self.max_neighbours = spec.metapaths, config.metapath_max_neighbours
        hidden, width = config.hidden_dim, config.hidden_dim * config.num_heads
        target = {spec.target_type: spec.feature_dims[spec.target_type]}
        self.inputs = TypeInputs(target, {spec.target_type: spec.num_nodes[spec.target_type]}, hidden, 1)
        self.layers = nn.ModuleList(
            HANLayer(list(spec.metapaths), hidden if i == 0 else width, hidden, config) for i in range(config.num_layers)
        )
        self.init_output(width, spec.num_classes, config.dropout)

    def graph_view(self, graph: dgl.DGLGraph) -> dgl.DGLGraph:
        return metapath_graph(graph, self.metapaths, self.target_type, self.max_neighbours)

    def forward(
        self, graph: GraphOrBlocks, features: dict[str, torch.Tensor], input_ids: dict[str, torch.Tensor] | None = None
    ) -> TeacherOutput:
        target = self.target_type
        ids = None if input_ids is None else {target: input_ids[target]}
        h = self.inputs({target: features[target]}, ids)[target]
        for block, layer in zip(layer_graphs(graph, self.num_layers), self.layers):
            if set(block.ntypes) != {target}:
                raise ValueError("HAN runs on its meta-path graph: pass model.graph_view(graph), not the typed graph")
            h_dst = destination_part(block, {target: h})[target]
            h = layer(block, target, h, h_dst)
        return TeacherOutput(logits=self.head(self.dropout(h)), embeddings={target: h})
