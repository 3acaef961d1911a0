"""Reliability of the teacher's predictions (HG2M+'s reliable node distillation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from hg2m.labels import bitmasks, correct, entropy_confidence, is_multi_label, predict

ROLE_TRAIN, ROLE_UNLABELLED, ROLE_OTHER = "train", "unlabelled", "other"


def kth_smallest(values: torch.Tensor, k: int) -> float:
    """The k-th smallest of values (k >= 1)."""
    return torch.kthvalue(values, k).values.item()


def reliable_mask(
    logits: torch.Tensor, labels: torch.Tensor, train_idx: torch.Tensor, unlabelled_idx: torch.Tensor, ratio: float
) -> torch.Tensor:
    """(N,) bool: train nodes the teacher gets right (multi-label: the whole set), plus the unlabelled nodes whose
    entropy is at most the k-th smallest and whose confidence is at least the k-th largest in U, k = floor(ratio *
    |U|). Thresholds, as in the reference code, so that nodes tied at the threshold (often many at confidence 1.0)
    are all kept."""
    logits, labels = logits.detach().cpu(), labels.cpu()
    train_idx, unlabelled_idx = train_idx.cpu().long(), unlabelled_idx.cpu().long()
    entropy, confidence = entropy_confidence(logits, is_multi_label(labels))
    mask = torch.zeros(len(logits), dtype=torch.bool)
    mask[train_idx] = correct(logits[train_idx], labels[train_idx])
    k = math.floor(ratio * len(unlabelled_idx))
    if k > 0:
        low_entropy = entropy[unlabelled_idx] <= kth_smallest(entropy[unlabelled_idx], k)
        confident = confidence[unlabelled_idx] >= -kth_smallest(-confidence[unlabelled_idx], k)
        mask[unlabelled_idx[low_entropy & confident]] = True
    return mask


def unlabelled_nodes(splits: dict[str, torch.Tensor], observed: torch.Tensor) -> torch.Tensor:
    """HG2M+'s U for one run: the observed val and test nodes."""
    return torch.cat([idx[observed[idx]] for idx in (splits["val"], splits["test"])])


def split_roles(num_nodes: int, train_idx: torch.Tensor, unlabelled_idx: torch.Tensor) -> pd.Series:
    """(N,) string roles: train, unlabelled, or other (in neither set, e.g. hidden inductive nodes)."""
    role = np.full(num_nodes, ROLE_OTHER, dtype=object)
    role[unlabelled_idx.cpu().numpy()] = ROLE_UNLABELLED
    role[train_idx.cpu().numpy()] = ROLE_TRAIN
    return pd.Series(role, dtype="string")


def reliability_frame(
    logits: torch.Tensor, labels: torch.Tensor, train_idx: torch.Tensor, unlabelled_idx: torch.Tensor, ratio: float
) -> pd.DataFrame:
    """One row per target node (N rows): id, entropy, confidence, teacher_label (multi-label: the predicted set as
    a bitmask, hg2m.labels), reliable, split_role."""
    logits = logits.detach().cpu()
    multi_label = is_multi_label(labels)
    entropy, confidence = entropy_confidence(logits, multi_label)
    predicted = predict(logits, multi_label)
    return pd.DataFrame({
        "id": np.arange(len(logits), dtype=np.int64),
        "entropy": entropy.double().numpy(),
        "confidence": confidence.double().numpy(),
        "teacher_label": bitmasks(predicted) if multi_label else predicted.numpy().astype(np.int64),
        "reliable": reliable_mask(logits, labels, train_idx, unlabelled_idx, ratio).numpy(),
        "split_role": split_roles(len(logits), train_idx, unlabelled_idx),
    })
