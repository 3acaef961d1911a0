"""The student: a plain MLP on the target node's inputs (GLNN / HG2M).

The inputs are the target type's own features, optionally with one-hop neighbourhood blocks
(hg2m.student_inputs); with neighbour-id bags they arrive as a sparse COO matrix, so the first linear
layer takes sparse input as well as dense (over a row-normalised bag it is a mean-mode embedding bag).
"""

from __future__ import annotations

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
