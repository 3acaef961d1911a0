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


def gather_rows(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(N, D) dense or sparse COO features, (S,) indices -> (S, D) rows, sparse in -> sparse out.

    Features are fixed inputs, so no gradient is needed through them (sparse index_select has no backward
    to the input for COO anyway). Works on uncoalesced COO too; the result is coalesced.
    """
    if features.is_sparse:
        return features.index_select(0, idx.to(features.device)).coalesce()
    return features[idx.to(features.device)]


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

    def forward(
        self, features: dict[str, torch.Tensor], ids: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """features: type -> every node's (N_t, D_t) features. Returns type -> (n_t, out_dim): all nodes of
        every type when `ids` is None, else the rows of `ids[t]` for the types in `ids` (sampled blocks)."""
        types = list(self.project) + list(self.embed) if ids is None else list(ids)
        return {t: self.encode(t, features, None if ids is None else ids[t]) for t in types}

    def encode(self, node_type: str, features: dict[str, torch.Tensor], ids: torch.Tensor | None) -> torch.Tensor:
        if node_type in self.project:
            x = features[node_type]
            return self.project[node_type](x if ids is None else gather_rows(x, ids))
        table = self.embed[node_type]
        return self.embed_project[node_type](table.weight if ids is None else table(ids))
