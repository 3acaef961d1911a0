"""RGCN teacher (Schlichtkrull et al., ESWC 2018) on a DGL heterograph.

Layer l: h_i' = mean_r GraphConv_r(h)_i [+ W_0 h_i]: one GraphConv (norm='both') per relation,
averaged over relations as in the HG2M reference code, which has no self-connection. R-GCN's own
self-connection W_0 (eq. 2) is optional (`self_loop`); on DBLP it overfits (see README). A per-type
input layer comes first; a linear head classifies the target type.
"""

from __future__ import annotations

import dgl
import torch
from dgl.nn import GraphConv, HeteroGraphConv
from torch import nn

from hg2m.models.inputs import TypeInputs
from hg2m.models.output import TeacherOutput


class RGCN(nn.Module):
    """Relational GCN.

    Args:
        feature_dims: node type -> input feature width, for types with features.
        num_nodes: node type -> count (featureless types get a learned embedding).
        relations: the graph's canonical edge types' names.
        target_type: the labelled node type; num_classes: its number of classes.
    """

    def __init__(
        self,
        feature_dims: dict[str, int],
        num_nodes: dict[str, int],
        relations: list[str],
        target_type: str,
        num_classes: int,
        hidden_dim: int = 128,
        num_layers: int = 2,
        dropout: float = 0.2,
        embedding_dim: int = 64,
        self_loop: bool = False,
    ):
        super().__init__()
        self.target_type = target_type
        self.inputs = TypeInputs(feature_dims, num_nodes, hidden_dim, embedding_dim)
        self.convs = nn.ModuleList(
            HeteroGraphConv(
                {rel: GraphConv(hidden_dim, hidden_dim, norm="both", allow_zero_in_degree=True) for rel in relations},
                aggregate="mean",
            )
            for _ in range(num_layers)
        )
        self.self_loops = nn.ModuleList(
            nn.Linear(hidden_dim, hidden_dim, bias=False) if self_loop else ZeroMap() for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_dim, num_classes)

    def forward(self, graph: dgl.DGLGraph, features: dict[str, torch.Tensor]) -> TeacherOutput:
        """Returns logits (N_target, C) and the last hidden layer of every node type (N_t, hidden)."""
        h = self.inputs(features)
        for conv, self_loop in zip(self.convs, self.self_loops):
            h = {t: self.dropout(torch.relu(x)) for t, x in h.items()}
            messages = conv(graph, h)
            # A type that receives no messages keeps its previous representation.
            h = {t: messages[t] + self_loop(x) if t in messages else x for t, x in h.items()}
        return TeacherOutput(logits=self.head(self.dropout(torch.relu(h[self.target_type]))), embeddings=h)


class ZeroMap(nn.Module):
    """The absent self-connection: contributes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)
