"""Reliability of the teacher's predictions (HG2M+'s reliable node distillation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch


def entropy_confidence(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C) logits -> entropy H(softmax) in nats (N,) and max probability (N,)."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1), log_p.exp().max(-1).values


def reliable_mask(
    logits: torch.Tensor, labels: torch.Tensor, train_idx: torch.Tensor, unlabelled_idx: torch.Tensor, ratio: float
) -> torch.Tensor:
    """(N,) bool: train nodes the teacher gets right, plus unlabelled nodes among both the k lowest-entropy
    and the k most confident of U, k = floor(ratio * |U|) (stable sorts: deterministic under ties)."""
    entropy, confidence = entropy_confidence(logits)
    mask = torch.zeros(len(logits), dtype=torch.bool)
    mask[train_idx] = logits[train_idx].argmax(-1) == labels[train_idx]
    k = math.floor(ratio * len(unlabelled_idx))
    if k == 0:
        return mask
    low_entropy = unlabelled_idx[torch.sort(entropy[unlabelled_idx], stable=True).indices[:k]]
    confident = unlabelled_idx[torch.sort(-confidence[unlabelled_idx], stable=True).indices[:k]]
    both = np.intersect1d(low_entropy.numpy(), confident.numpy())
    mask[torch.from_numpy(both)] = True
    return mask


def reliability_frame(
    logits: torch.Tensor, labels: torch.Tensor, train_idx: torch.Tensor, unlabelled_idx: torch.Tensor, ratio: float
) -> pd.DataFrame:
    """One row per target node: id, entropy, confidence, teacher_label, reliable, split_role."""
    entropy, confidence = entropy_confidence(logits)
    role = np.full(len(logits), "other", dtype=object)
    role[unlabelled_idx.numpy()] = "unlabelled"
    role[train_idx.numpy()] = "train"
    return pd.DataFrame({
        "id": np.arange(len(logits), dtype=np.int64),
        "entropy": entropy.double().numpy(),
        "confidence": confidence.double().numpy(),
        "teacher_label": logits.argmax(-1).numpy().astype(np.int64),
        "reliable": reliable_mask(logits, labels, train_idx, unlabelled_idx, ratio).numpy(),
        "split_role": pd.array(role, dtype="string"),
    })
