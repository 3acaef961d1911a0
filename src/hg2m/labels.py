"""Single-label or multi-label targets: the one place that turns logits into losses, probabilities and predictions.

Single-label (one class per node): labels (N,) int64; a softmax over the classes; cross-entropy.
Multi-label (a set of classes per node, e.g. a film's genres in HGB's IMDB): labels (N, C) float32 of 0 / 1; one
sigmoid per class; binary cross-entropy; a class is predicted when its logit is above 0.

Distillation treats a multi-label node as C independent two-way distributions, so `log_probs` gives (N, C, 2) log
probabilities (class present, absent) where single-label has (N, C): every KL, entropy and meta-path target
then sums over the trailing axes and the losses need no second version. In a snapshot a node's set of classes is
one int64 bitmask (the sum of 2**c), so both kinds share one label column.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MAX_MULTI_LABEL_CLASSES = 62  # bits of the int64 label column a bitmask may use (sign bit and -1 left out)


def is_multi_label(labels: torch.Tensor | np.ndarray) -> bool:
    """Multi-label labels are a (N, C) indicator matrix; single-label ones a (N,) class vector."""
    return labels.ndim == 2


def encode_sets(sets: list[list[int]]) -> np.ndarray:
    """Class sets -> (N,) int64 bitmasks: [[0, 2], [1]] -> [5, 2]."""
    return np.array([sum(1 << c for c in set(classes)) for classes in sets], dtype=np.int64)


def decode_bitmasks(codes: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) int64 bitmasks -> (N, C) float32 indicators; a negative code (unknown label) gives a row of zeros."""
    codes = np.asarray(codes, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(num_classes, dtype=np.int64)) & 1
    return np.where(codes[:, None] >= 0, bits, 0).astype(np.float32)


def bitmasks(indicators: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, C) 0/1 indicators -> (N,) int64 bitmasks."""
    indicators = np.asarray(indicators).astype(np.int64)
    return (indicators << np.arange(indicators.shape[1], dtype=np.int64)).sum(axis=1)


def log_probs(logits: torch.Tensor, multi_label: bool, temperature: float = 1.0) -> torch.Tensor:
    """(N, C) logits -> log probabilities: (N, C) log-softmax, or (N, C, 2) log-sigmoid of (present, absent)."""
    z = logits / temperature
    if multi_label:
        return torch.stack([F.logsigmoid(z), F.logsigmoid(-z)], dim=-1)
    return F.log_softmax(z, dim=-1)


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the classes, or binary cross-entropy per class (mean over nodes and classes)."""
    if is_multi_label(labels):
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels)


def predict(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """(N,) the most likely class, or (N, C) bool: every class whose probability is above one half."""
    return logits > 0 if multi_label else logits.argmax(-1)


def entropy_confidence(logits: torch.Tensor, multi_label: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) entropy of the predicted distribution in nats, and (N,) the probability of the predicted label:
    multi-label, the set of independent classes (summed entropies, product of the chosen sides)."""
    log_p = log_probs(logits.detach(), multi_label)
    probs = log_p.exp()
    # xlogy: a class with probability exactly 0 contributes 0, not 0 * -inf = nan
    entropy = -torch.special.xlogy(probs, probs).flatten(1).sum(-1)
    top = log_p.max(-1).values
    confidence = top.sum(-1).exp() if multi_label else top.exp()
    return entropy, confidence


def correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the prediction is the label (multi-label: the whole set)."""
    if is_multi_label(labels):
        return (predict(logits, True) == labels.bool()).all(-1)
    return predict(logits, False) == labels


def micro_f1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Micro-F1 of the predictions (single-label: accuracy), the score every model selects its epoch on."""
    if not is_multi_label(labels):
        return float(correct(logits, labels).float().mean())
    predicted, truth = predict(logits, True), labels.bool()
    true_positives = (predicted & truth).sum()
    return float(2 * true_positives / (predicted.sum() + truth.sum()).clamp_min(1))


def validation(logits: torch.Tensor, labels: torch.Tensor) -> float | tuple[float, float]:
    """What model selection reads from one validation pass (hg2m.train.fit): the Micro-F1, and for label sets also
    the loss. A multi-label model first learns the classes' base rates, every logit below 0, and its thresholded
    F1 then stays flat for tens of epochs while the loss still falls (HAN and Simple-HGN on HGB's IMDB stopped
    on such a plateau at 0.455); the falling loss keeps early stopping from ending it."""
    score = micro_f1(logits, labels)
    return (score, float(supervised_loss(logits, labels))) if is_multi_label(labels) else score


def agreement(probs_i: torch.Tensor, probs_j: torch.Tensor) -> torch.Tensor:
    """(E,) the probability that two nodes have the same label, from their `log_probs(...).exp()` rows."""
    same = (probs_i * probs_j).sum(-1)
    return same.prod(-1) if same.ndim == 2 else same


def same_label(labels: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(E,) bool: nodes i and j have the same label (multi-label: the same set)."""
    equal = labels[i] == labels[j]
    return equal.all(axis=1) if equal.ndim == 2 else equal
