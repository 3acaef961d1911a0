"""The output every teacher returns."""

from __future__ import annotations

from typing import NamedTuple

import torch


class TeacherOutput(NamedTuple):
    """logits: (N_target, C); embeddings: node type -> (N_t, hidden) (HIRE's relation-level KD uses these)."""

    logits: torch.Tensor
    embeddings: dict[str, torch.Tensor]
