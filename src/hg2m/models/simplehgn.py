"""Simple-HGN teacher (Lv et al., "Are we really making much progress? Revisiting, benchmarking and
refining heterogeneous graph neural networks", KDD 2021, HGB) on native DGL heterograph operations.

Layer l, head k, edge i -> j of relation r, with x = W h (W shared by all node types, as in HGB):
    e_ij = LeakyReLU(a_k^T [x_i || x_j || W_r r_r])            r_r: learned edge-type embedding
    alpha_ij = softmax of e_ij over ALL incoming edges of j, across relations; attention dropout
    alpha_ij <- (1 - beta) alpha_ij + beta alpha_ij^(l-1)       edge residual, from the second layer on
    h_j' = ||_k sum_i alpha_ij x_i + W_res h_j                   heads concatenated, node residual
Feature dropout on every layer's input, ELU between layers. Output head: the target type's last
layer, L2-normalised, then a linear layer (HGB instead averages its last layer's heads into the
classes; a separate head keeps the returned embeddings a true hidden layer).

Edge residual with sampled blocks: the previous layer's attention is looked up by the whole graph's
edge ids (`dgl.EID`), so with all neighbours sampled, blocks give exactly the full-batch result. An
edge the previous block did not sample keeps its own attention. Like HGB, the carried attention is
detached, and W_res is the identity where input and output widths agree.
"""

from __future__ import annotations

import dgl
import dgl.function as fn
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.config import SimpleHGNConfig
from hg2m.models.attention import Etype, edge_softmax_across_relations
from hg2m.models.base import GraphOrBlocks, Teacher, TeacherSpec, destination_part, layer_graphs
from hg2m.models.inputs import TypeInputs
from hg2m.models.output import TeacherOutput

EdgeAttention = dict[Etype, tuple[torch.Tensor, torch.Tensor]]  # etype -> (whole-graph edge ids, attention)


def whole_graph_edge_ids(graph: dgl.DGLGraph, etype: Etype) -> torch.Tensor:
    """A block's edges carry their ids in the whole graph; a whole graph's edges are their own ids."""
    if graph.is_block:
        return graph.edges[etype].data[dgl.EID]
    return torch.arange(graph.num_edges(etype), device=graph.device)


def carried_attention(
    previous: tuple[torch.Tensor, torch.Tensor], ids: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """The previous layer's attention of edges `ids`; `alpha` itself for edges that layer did not see."""
    prev_ids, prev_alpha = previous
    if len(prev_ids) == 0:
        return alpha
    sorted_ids, order = torch.sort(prev_ids)
    pos = torch.searchsorted(sorted_ids, ids).clamp(max=len(sorted_ids) - 1)
    found = (sorted_ids[pos] == ids).view(-1, *([1] * (alpha.dim() - 1)))
    return torch.where(found, prev_alpha[order[pos]], alpha)


class SimpleHGNLayer(nn.Module):
    """One Simple-HGN layer: edge-type-aware GAT attention, softmax across relations, both residuals."""

    def __init__(self, in_dim: int, config: SimpleHGNConfig, etypes: list[Etype]):
        super().__init__()
        self.heads, self.dim, self.beta = config.num_heads, config.hidden_dim, config.edge_residual
        self.etype_index = {ce: i for i, ce in enumerate(etypes)}
        self.fc = nn.Linear(in_dim, self.heads * self.dim, bias=False)
        self.edge_embedding = nn.Embedding(len(etypes), config.edge_dim)
        self.fc_edge = nn.Linear(config.edge_dim, self.heads * config.edge_dim, bias=False)
        self.attn_src, self.attn_dst = (nn.Parameter(torch.empty(self.heads, self.dim)) for _ in range(2))
        self.attn_edge = nn.Parameter(torch.empty(self.heads, config.edge_dim))
        for a in (self.attn_src, self.attn_dst, self.attn_edge):
            nn.init.xavier_normal_(a, gain=1.414)
        width = self.heads * self.dim
        self.residual = nn.Identity() if in_dim == width else nn.Linear(in_dim, width, bias=False)
        self.leaky_relu, self.attn_drop = nn.LeakyReLU(config.negative_slope), nn.Dropout(config.attn_dropout)

    def forward(
        self, graph: dgl.DGLGraph, h: dict[str, torch.Tensor], previous: EdgeAttention | None = None
    ) -> tuple[dict[str, torch.Tensor], EdgeAttention]:
        """h: source-side rows per type. Returns the destination rows and this layer's attention."""
        x = {t: self.fc(v).view(-1, self.heads, self.dim) for t, v in h.items()}
        with graph.local_scope():
            alpha = edge_softmax_across_relations(graph, self.edge_scores(graph, x))
            alpha = {ce: self.attn_drop(a) for ce, a in alpha.items()}
            ids = {ce: whole_graph_edge_ids(graph, ce) for ce in alpha}
            if previous is not None and self.beta > 0:
                alpha = {ce: (1 - self.beta) * a + self.beta * carried_attention(previous[ce], ids[ce], a)
                         for ce, a in alpha.items()}
            for t in graph.srctypes:
                graph.srcnodes[t].data["x"] = x[t]
            for ce, a in alpha.items():
                graph.edges[ce].data["a"] = a.unsqueeze(-1)
            graph.multi_update_all({ce: (fn.u_mul_e("x", "a", "m"), fn.sum("m", "agg")) for ce in alpha}, "sum")
            out = {t: self.residual(v) for t, v in destination_part(graph, h).items() if t in graph.dsttypes}
            # A type that receives no relation keeps its (projected) previous representation.
            out = {t: v + graph.dstnodes[t].data["agg"].flatten(1) if "agg" in graph.dstnodes[t].data else v
                   for t, v in out.items()}
        return out, {ce: (ids[ce], a.detach()) for ce, a in alpha.items()}

    def edge_scores(self, graph: dgl.DGLGraph, x: dict[str, torch.Tensor]) -> dict[Etype, torch.Tensor]:
        """e_ij per relation, (E_r, heads): the edge-type term is one constant per relation and head."""
        edge = self.fc_edge(self.edge_embedding.weight).view(-1, self.heads, self.attn_edge.shape[1])
        edge_term = (edge * self.attn_edge).sum(-1)
        x_dst = destination_part(graph, x)
        for t in graph.srctypes:
            graph.srcnodes[t].data["el"] = (x[t] * self.attn_src).sum(-1)
        for t in graph.dsttypes:
            graph.dstnodes[t].data["er"] = (x_dst[t] * self.attn_dst).sum(-1)
        scores = {}
        for ce in graph.canonical_etypes:
            graph.apply_edges(fn.u_add_v("el", "er", "e"), etype=ce)
            scores[ce] = self.leaky_relu(graph.edges[ce].data["e"] + edge_term[self.etype_index[ce]])
        return scores


class SimpleHGN(Teacher):
    """Simple-HGN: `num_layers` layers of `num_heads` x `hidden_dim`, L2-normalised target, linear head."""

    def __init__(self, spec: TeacherSpec, config: SimpleHGNConfig):
        super().__init__()
        self.target_type, self.num_layers = spec.target_type, config.num_layers
        width = config.num_heads * config.hidden_dim
        self.inputs = TypeInputs(spec.feature_dims, spec.num_nodes, config.hidden_dim, spec.embedding_dim)
        self.layers = nn.ModuleList(
            SimpleHGNLayer(config.hidden_dim if i == 0 else width, config, spec.canonical_etypes)
            for i in range(config.num_layers)
        )
        self.init_output(width, spec.num_classes, config.dropout)

    def forward(
        self, graph: GraphOrBlocks, features: dict[str, torch.Tensor], input_ids: dict[str, torch.Tensor] | None = None
    ) -> TeacherOutput:
        h, attention = self.inputs(features, input_ids), None
        for i, (block, layer) in enumerate(zip(layer_graphs(graph, self.num_layers), self.layers)):
            h = {t: self.dropout(F.elu(x) if i > 0 else x) for t, x in h.items()}
            h, attention = layer(block, h, attention)
        return TeacherOutput(logits=self.head(F.normalize(h[self.target_type], dim=-1)), embeddings=h)
