"""RGCN teacher (Schlichtkrull et al., ESWC 2018) on a DGL heterograph.

Layer l: h_i' = mean_r GraphConv_r(h)_i [+ W_0 h_i]: one GraphConv per relation with the symmetric
normalisation 1 / sqrt(d_out(j) d_in(i)), averaged over relations as in the HG2M reference code, which
has no self-connection. The normalisation uses the whole graph's degrees (kept on the edges by
`graph_view`): a sampled block sees only part of each source's edges, and DGL's norm='both' would then
use the block's degrees. With k of a node's d_in neighbours sampled, the sum is scaled by d_in / k, so
that it estimates the whole-graph sum, which it equals when every neighbour is kept. R-GCN's own
self-connection W_0 (eq. 2) is optional (`self_loop`); on DBLP it overfits (see README). A per-type
input layer comes first; a linear head classifies the target type.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GraphConv, HeteroGraphConv
from torch import nn

from hg2m.config import RGCNConfig
from hg2m.models.base import GraphOrBlocks, Teacher, TeacherSpec, destination_part, layer_graphs
from hg2m.models.inputs import TypeInputs
from hg2m.models.output import TeacherOutput

NORM_KEY = "gcn_scale"


class RGCN(Teacher):
    """Relational GCN: `num_layers` HeteroGraphConv layers of per-relation GraphConv, mean over relations."""

    def __init__(self, spec: TeacherSpec, config: RGCNConfig):
        super().__init__()
        hidden = config.hidden_dim
        self.target_type, self.num_layers = spec.target_type, config.num_layers
        self.inputs = TypeInputs(spec.feature_dims, spec.num_nodes, hidden, spec.embedding_dim)
        self.convs = nn.ModuleList(
            HeteroGraphConv(
                {rel: GraphConv(hidden, hidden, norm="none", allow_zero_in_degree=True) for rel in spec.relations},
                aggregate="mean",
            )
            for _ in range(config.num_layers)
        )
        self.self_loops = nn.ModuleList(
            nn.Linear(hidden, hidden, bias=False) if config.self_loop else ZeroMap() for _ in range(config.num_layers)
        )
        self.init_output(hidden, spec.num_classes, config.dropout)

    def graph_view(self, graph: dgl.DGLGraph) -> dgl.DGLGraph:
        """The graph with sqrt(d_in(i) / d_out(j)) on every edge j -> i, from the whole graph's degrees."""
        view = graph.local_var()
        for etype in view.canonical_etypes:
            view.edges[etype].data[NORM_KEY] = degree_scale(view, etype)
        return view

    def forward(
        self, graph: GraphOrBlocks, features: dict[str, torch.Tensor], input_ids: dict[str, torch.Tensor] | None = None
    ) -> TeacherOutput:
        h = self.inputs(features, input_ids)
        for block, conv, self_loop in zip(layer_graphs(graph, self.num_layers), self.convs, self.self_loops):
            h = {t: self.dropout(torch.relu(x)) for t, x in h.items()}
            messages = conv(block, h, mod_kwargs=edge_weights(block))
            # A type that receives no messages keeps its previous representation.
            h = {t: messages[t] + self_loop(x) if t in messages else x for t, x in destination_part(block, h).items()}
        return TeacherOutput(logits=self.head(self.dropout(torch.relu(h[self.target_type]))), embeddings=h)


def degree_scale(graph: dgl.DGLGraph, etype: tuple[str, str, str]) -> torch.Tensor:
    """sqrt(d_in(i) / d_out(j)) on every edge j -> i of `etype`, from `graph`'s degrees."""
    src, dst = graph.edges(etype=etype)
    d_out, d_in = graph.out_degrees(etype=etype).float(), graph.in_degrees(etype=etype).float()
    return torch.sqrt(d_in[dst] / d_out[src])


def edge_weights(graph: dgl.DGLGraph) -> dict[str, dict[str, torch.Tensor]]:
    """Relation -> GraphConv's `edge_weight`: sqrt(d_in(i) / d_out(j)) / (in-degree of i in this graph)."""
    weights = {}
    for etype in graph.canonical_etypes:
        edges = graph.edges[etype].data
        if NORM_KEY not in edges:
            raise ValueError("RGCN runs on its graph view: pass model.graph_view(graph), not the raw graph")
        dst = graph.edges(etype=etype)[1]
        in_degree = graph.in_degrees(etype=etype).clamp(min=1).float()
        weights[etype[1]] = {"edge_weight": edges[NORM_KEY] / in_degree[dst]}
    return weights


class ZeroMap(nn.Module):
    """The absent self-connection: contributes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)
