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
            split = split_columns(x)
            if split is None:
                return torch.sparse.mm(x, self.weight.t()) + self.bias
            dense_columns, dense, sparse = split
            return split_linear(dense_columns, dense, sparse, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)


DENSE_COLUMN_SHARE = 0.5  # a column with non-zeros in at least this share of the rows goes in the dense product


def split_columns(
    x: torch.Tensor, min_density: float = DENSE_COLUMN_SHARE,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Sparse COO (N, D) -> (dense column ids (Dd,), their (N, Dd) values as dense rows, the rest as sparse COO
    (N, D) with those columns left out), or None when no column is mostly non-zero. TorchScript-able: the served
    student splits its requests too. Costs O(non-zeros + D), and no copy of the layer's weights."""
    x = x.coalesce()
    indices, values = x.indices(), x.values()
    rows, cols = indices[0], indices[1]
    num_rows = x.shape[0]
    is_dense = torch.bincount(cols, minlength=x.shape[1]) >= min_density * max(num_rows, 1)
    if not bool(is_dense.any()):
        return None
    dense_columns = torch.nonzero(is_dense).squeeze(1)
    position = torch.cumsum(is_dense.long(), 0) - 1  # a dense column's position in `dense`
    in_dense = is_dense[cols]
    dense = torch.zeros(num_rows, dense_columns.shape[0], dtype=x.dtype, device=x.device)
    dense.index_put_((rows[in_dense], position[cols[in_dense]]), values[in_dense])
    in_sparse = ~in_dense
    # a subset of coalesced entries, in the same order: still coalesced
    sparse = torch.sparse_coo_tensor(indices[:, in_sparse], values[in_sparse], x.shape, is_coalesced=True)
    return dense_columns, dense, sparse


def split_linear(dense_columns: torch.Tensor, dense: torch.Tensor, sparse: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor) -> torch.Tensor:
    """x @ weight.T + bias for x split by split_columns: a dense product plus a sparse one."""
    return dense @ weight[:, dense_columns].t() + torch.sparse.mm(sparse, weight.t()) + bias


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
    """Student inputs split once (split_columns), for training and batch prediction: the columns that are mostly
    non-zero (own features and neighbour means when they are dense) as a dense matrix, the rest (bags of neighbour
    ids, sparse bag-of-words) as sparse COO. The first layer is then a dense matrix product plus a sparse one; in
    one sparse product, dense columns cost several times more (every value an index lookup). InputLinear splits
    a sparse input the same way on every call; preparing once saves that in training. Same result as the plain
    forward (a test checks the outputs and the gradients)."""

    dense_columns: torch.Tensor  # (Dd,) int64 column ids of `dense`
    dense: torch.Tensor  # (N, Dd)
    sparse: torch.Tensor  # (N, D) sparse COO, without the dense columns

    @classmethod
    def of(cls, x: torch.Tensor) -> "PreparedInputs | torch.Tensor":
        """Split a sparse COO input (split_columns); a dense input, or a sparse one without mostly non-zero
        columns, is returned as it is."""
        split = split_columns(x) if x.is_sparse else None
        return x if split is None else cls(*split)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.sparse.shape)

    def rows(self, idx: torch.Tensor) -> "PreparedInputs":
        idx = idx.to(self.dense.device)
        return PreparedInputs(self.dense_columns, self.dense[idx], self.sparse.index_select(0, idx).coalesce())

    def to(self, device: torch.device) -> "PreparedInputs":
        return PreparedInputs(self.dense_columns.to(device), self.dense.to(device), self.sparse.to(device))

    def linear(self, layer: nn.Linear) -> torch.Tensor:
        """layer(x) for the x these rows came from."""
        return split_linear(self.dense_columns, self.dense, self.sparse, layer.weight, layer.bias)


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
