"""The student: a plain MLP on the target type's own features (GLNN / HG2M)."""

from __future__ import annotations

import torch
from torch import nn

NORMS = {"none": lambda dim: nn.Identity(), "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class MLP(nn.Module):
    """(Linear -> norm -> ReLU -> Dropout) x (num_layers - 1), then a linear classifier.

    `num_layers` counts linear layers, as GLNN does: 2 = one hidden layer plus the classifier.
    Input (N, in_dim) dense features; output (N, num_classes) logits.
    """

    def __init__(
        self, in_dim: int, num_classes: int, hidden_dim: int = 128, num_layers: int = 2,
        dropout: float = 0.2, norm: str = "none",
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            blocks += [nn.Linear(width, hidden_dim), NORMS[norm](hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        self.body = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width, num_classes)
        self.in_dim = in_dim
        self.num_classes = num_classes

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))
