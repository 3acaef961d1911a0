"""Per-node-type input layers: types differ in feature width, and some have no features at all."""

from __future__ import annotations

import torch
from torch import nn


class SparseAwareLinear(nn.Linear):
    """nn.Linear that also accepts a sparse COO input (bag-of-words features stay sparse)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_sparse:
            return torch.sparse.mm(x, self.weight.t()) + self.bias
        return super().forward(x)


class TypeInputs(nn.Module):
    """Maps every node type to `out_dim`: a linear projection of its features, or a learned embedding.

    feature_dims: node type -> feature width (types with features).
    num_nodes: node type -> count (used for types without features).
    """

    def __init__(self, feature_dims: dict[str, int], num_nodes: dict[str, int], out_dim: int, embedding_dim: int):
        super().__init__()
        self.project = nn.ModuleDict({t: SparseAwareLinear(d, out_dim) for t, d in feature_dims.items()})
        featureless = [t for t in num_nodes if t not in feature_dims]
        self.embed = nn.ModuleDict({t: nn.Embedding(num_nodes[t], embedding_dim) for t in featureless})
        self.embed_project = nn.ModuleDict({t: nn.Linear(embedding_dim, out_dim) for t in featureless})

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """features: type -> (N_t, D_t) -> returns type -> (N_t, out_dim) for every node type."""
        h = {t: layer(features[t]) for t, layer in self.project.items()}
        for t, table in self.embed.items():
            h[t] = self.embed_project[t](table.weight)
        return h
