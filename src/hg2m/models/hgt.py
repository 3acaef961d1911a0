"""HGT teacher (Hu et al., "Heterogeneous Graph Transformer", WWW 2020) on native DGL heterograph operations.

Layer l, head k, edge s -> t of relation r (tau(.): node type; K, Q, V: per-type linears, d = heads * d_k):
    att_k(s, r, t) = (K_tau(s)(h_s)_k W^ATT_r,k . Q_tau(t)(h_t)_k) * mu_r,k / sqrt(d_k)
    softmax of att over ALL incoming edges of t, across relations (as in the paper, not per relation)
    h~_t = ||_k sum_s att_k(s, r, t) V_tau(s)(h_s)_k W^MSG_r,k
    h_t' = sigma_t A-Linear_tau(t)(GELU(h~_t)) + (1 - sigma_t) h_t     learned gate sigma_t = sigmoid(skip_tau(t))
then a per-type LayerNorm (`layer_norm`, on by default as in the paper's code); dropout after A-Linear.
Inputs: tanh of the per-type input projection (as in the paper's adapt layer), width d; a linear head
classifies the target type's last layer. `hidden_dim` is d_k, the width of one head.
"""

from __future__ import annotations

import math

import dgl
import dgl.function as fn
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.config import HGTConfig
from hg2m.models.attention import Etype, edge_softmax_across_relations
from hg2m.models.base import GraphOrBlocks, Teacher, TeacherSpec, destination_part, layer_graphs
from hg2m.models.inputs import TypeInputs
from hg2m.models.output import TeacherOutput


def per_type_linears(node_types: list[str], dim: int) -> nn.ModuleDict:
    return nn.ModuleDict({t: nn.Linear(dim, dim) for t in node_types})


class HGTLayer(nn.Module):
    """One HGT layer: per-type K/Q/V, per-relation attention and message matrices and prior, gated skip."""

    def __init__(self, heads: int, head_dim: int, node_types: list[str], etypes: list[Etype], dropout: float,
                 layer_norm: bool = True):
        super().__init__()
        self.heads, self.head_dim, dim = heads, head_dim, heads * head_dim
        self.etype_index = {ce: i for i, ce in enumerate(etypes)}
        self.key, self.query, self.value, self.out = (per_type_linears(node_types, dim) for _ in range(4))
        bound = math.sqrt(3 / head_dim)  # Glorot for a d_k x d_k matrix, as the paper's code
        self.relation_att, self.relation_msg = (
            nn.Parameter(torch.empty(len(etypes), heads, head_dim, head_dim).uniform_(-bound, bound)) for _ in range(2)
        )
        self.relation_prior = nn.Parameter(torch.ones(len(etypes), heads))
        self.skip = nn.ParameterDict({t: nn.Parameter(torch.ones(())) for t in node_types})
        self.norm = nn.ModuleDict({t: nn.LayerNorm(dim) for t in node_types}) if layer_norm else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph: dgl.DGLGraph, h: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
        """h: source-side rows per type. Returns the destination rows and the attention (etype -> (E, heads))."""
        h_dst = {t: x for t, x in destination_part(graph, h).items() if t in graph.dsttypes}
        with graph.local_scope():
            attention = edge_softmax_across_relations(graph, self.edge_scores(graph, h, h_dst))
            value = {t: self.value[t](x).view(-1, self.heads, self.head_dim) for t, x in h.items()}
            for ce, a in attention.items():
                # Messages V W^MSG_r computed per source node, not per edge; one field per relation.
                r = self.etype_index[ce]
                graph.srcnodes[ce[0]].data[f"v{r}"] = torch.einsum("nhd,hde->nhe", value[ce[0]], self.relation_msg[r])
                graph.edges[ce].data["a"] = a.unsqueeze(-1)
            graph.multi_update_all(
                {ce: (fn.u_mul_e(f"v{self.etype_index[ce]}", "a", "m"), fn.sum("m", "agg")) for ce in attention}, "sum"
            )
            received = {t: graph.dstnodes[t].data["agg"] for t in graph.dsttypes if "agg" in graph.dstnodes[t].data}
        # A type that receives no relation keeps its previous representation.
        out = {t: self.update(t, received[t].flatten(1), x) if t in received else x for t, x in h_dst.items()}
        return out, attention

    def edge_scores(self, graph: dgl.DGLGraph, h: dict[str, torch.Tensor], h_dst: dict[str, torch.Tensor]) -> dict:
        """att per relation, (E_r, heads), before the softmax."""
        key = {t: self.key[t](x).view(-1, self.heads, self.head_dim) for t, x in h.items()}
        for t in graph.dsttypes:
            graph.dstnodes[t].data["q"] = self.query[t](h_dst[t]).view(-1, self.heads, self.head_dim)
        scores = {}
        for ce in graph.canonical_etypes:
            r = self.etype_index[ce]
            graph.srcnodes[ce[0]].data[f"k{r}"] = torch.einsum("nhd,hde->nhe", key[ce[0]], self.relation_att[r])
            graph.apply_edges(fn.u_dot_v(f"k{r}", "q", "s"), etype=ce)
            scores[ce] = graph.edges[ce].data["s"].squeeze(-1) * self.relation_prior[r] / math.sqrt(self.head_dim)
        return scores

    def update(self, node_type: str, received: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Target-specific aggregation: A-Linear, then a learned gate between it and the previous h."""
        gate = torch.sigmoid(self.skip[node_type])
        out = gate * self.dropout(self.out[node_type](F.gelu(received))) + (1 - gate) * h
        return self.norm[node_type](out) if self.norm is not None else out


class HGT(Teacher):
    """Heterogeneous Graph Transformer: `num_layers` HGT layers of `num_heads` x `hidden_dim`, linear head."""

    def __init__(self, spec: TeacherSpec, config: HGTConfig, layer_norm: bool = True):
        super().__init__()
        self.target_type, self.num_layers = spec.target_type, config.num_layers
        dim = config.num_heads * config.hidden_dim
        node_types = list(spec.num_nodes)
        self.inputs = TypeInputs(spec.feature_dims, spec.num_nodes, dim, spec.embedding_dim)
        self.layers = nn.ModuleList(
            HGTLayer(config.num_heads, config.hidden_dim, node_types, spec.canonical_etypes, config.dropout, layer_norm)
            for _ in range(config.num_layers)
        )
        self.init_output(dim, spec.num_classes, config.dropout)

    def forward(
        self, graph: GraphOrBlocks, features: dict[str, torch.Tensor], input_ids: dict[str, torch.Tensor] | None = None
    ) -> TeacherOutput:
        h = {t: self.dropout(torch.tanh(x)) for t, x in self.inputs(features, input_ids).items()}
        for block, layer in zip(layer_graphs(graph, self.num_layers), self.layers):
            h, _ = layer(block, h)
        return TeacherOutput(logits=self.head(h[self.target_type]), embeddings=h)
