"""The student: a plain MLP on the target node's inputs (GLNN / HG2M).

The inputs are the target type's own features, optionally with one-hop neighbourhood blocks
(hg2m.student_inputs); with neighbour-id bags they arrive as a sparse COO matrix, so the first linear
layer takes sparse input as well as dense (over a row-normalised bag it is a mean-mode embedding bag).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hg2m.models.inputs import SparseAwareLinear

NORMS = {"none": lambda dim: nn.Identity(), "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class InputLinear(SparseAwareLinear):
    """SparseAwareLinear in a form TorchScript compiles (it cannot script the parent's `super().forward`).

    Same parameters and initialisation as nn.Linear: swapping it in for the first layer leaves seeded
    weights unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_sparse:
            return torch.sparse.mm(x, self.weight.t()) + self.bias
        return F.linear(x, self.weight, self.bias)


class MLP(nn.Module):
    """(Linear -> norm -> ReLU -> Dropout) x (num_layers - 1), then a linear classifier.

    `num_layers` counts linear layers, as GLNN does: 2 = one hidden layer plus the classifier.
    Input (N, in_dim) features, dense or sparse COO (only the first linear layer sees the input);
    output (N, num_classes) logits. With num_layers == 1 the classifier is the first layer, and `embed`
    returns the input as it came (sparse stays sparse).
    """

    def __init__(
        self, in_dim: int, num_classes: int, hidden_dim: int = 128, num_layers: int = 2,
        dropout: float = 0.2, norm: str = "none",
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for i in range(num_layers - 1):
            linear = InputLinear if i == 0 else nn.Linear
            blocks += [linear(width, hidden_dim), NORMS[norm](hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        self.body = nn.Sequential(*blocks)
        self.classifier = (InputLinear if num_layers <= 1 else nn.Linear)(width, num_classes)
        self.in_dim = in_dim
        self.num_classes = num_classes

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


@dataclass
class PreparedInputs:
    """Student inputs split once, for training and batch prediction: the columns that are mostly non-zero (own
    features and neighbour means when they are dense) as a dense matrix, the rest (bags of neighbour ids, sparse
    bag-of-words) as sparse COO. The first layer is then a dense matrix product plus a sparse one; in one sparse
    product, dense columns cost several times more (every value an index lookup). Same result as the plain
    forward (a test checks the outputs and the gradients)."""

    dense_columns: torch.Tensor  # (Dd,) int64 column ids of `dense`
    dense: torch.Tensor  # (N, Dd)
    sparse_columns: torch.Tensor  # (Ds,) int64 column ids of `sparse`
    sparse: torch.Tensor  # (N, Ds) sparse COO

    @classmethod
    def of(cls, x: torch.Tensor, min_density: float = 0.5) -> "PreparedInputs | torch.Tensor":
        """Split a sparse COO input whose columns with at least `min_density` non-zeros become dense; a dense
        input, or a sparse one without such columns, is returned as it is."""
        if not x.is_sparse:
            return x
        x = x.coalesce()
        rows, cols = x.indices()
        counts = torch.bincount(cols, minlength=x.shape[1])
        is_dense = counts >= min_density * max(x.shape[0], 1)
        if not is_dense.any():
            return x
        position = torch.cumsum(is_dense, 0) - 1  # a dense column's position in `dense`
        sparse_position = torch.cumsum(~is_dense, 0) - 1
        dense_columns, sparse_columns = torch.nonzero(is_dense).squeeze(1), torch.nonzero(~is_dense).squeeze(1)
        in_dense = is_dense[cols]
        dense = torch.zeros(x.shape[0], len(dense_columns), dtype=x.dtype, device=x.device)
        dense[rows[in_dense], position[cols[in_dense]]] = x.values()[in_dense]
        sparse = torch.sparse_coo_tensor(
            torch.stack([rows[~in_dense], sparse_position[cols[~in_dense]]]), x.values()[~in_dense],
            (x.shape[0], len(sparse_columns)), is_coalesced=True)
        return cls(dense_columns, dense, sparse_columns, sparse)

    @property
    def shape(self) -> tuple[int, int]:
        return self.dense.shape[0], len(self.dense_columns) + len(self.sparse_columns)

    def rows(self, idx: torch.Tensor) -> "PreparedInputs":
        idx = idx.to(self.dense.device)
        return PreparedInputs(self.dense_columns, self.dense[idx], self.sparse_columns,
                              self.sparse.index_select(0, idx).coalesce())

    def to(self, device: torch.device) -> "PreparedInputs":
        return PreparedInputs(self.dense_columns.to(device), self.dense.to(device), self.sparse_columns.to(device),
                              self.sparse.to(device))

    def linear(self, layer: nn.Linear) -> torch.Tensor:
        """layer(x) for the x these rows came from."""
        out = self.dense @ layer.weight[:, self.dense_columns].t()
        if len(self.sparse_columns):
            out = out + torch.sparse.mm(self.sparse, layer.weight[:, self.sparse_columns].t())
        return out + layer.bias


StudentInputs = torch.Tensor | PreparedInputs


def run_mlp(mlp: MLP, x: StudentInputs, embed: bool = False) -> torch.Tensor:
    """mlp(x) (or mlp.embed(x)) for plain or prepared inputs. Outside the module on purpose: a served student is
    TorchScript, which takes plain tensors only."""
    if isinstance(x, torch.Tensor):
        return mlp.embed(x) if embed else mlp(x)
    if len(mlp.body) == 0:  # one layer: the classifier reads the input, and there is no hidden layer to embed
        if embed:
            raise ValueError("a one-layer MLP has no hidden layer: embed its plain inputs")
        return x.linear(mlp.classifier)
    hidden = mlp.body[1:](x.linear(mlp.body[0]))
    return hidden if embed else mlp.classifier(hidden)
