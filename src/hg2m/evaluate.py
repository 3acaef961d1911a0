"""Classification metrics and the comparison table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

METRICS = ("accuracy", "macro_f1", "micro_f1")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_metrics(y_true, y_pred, num_classes: int) -> dict[str, float]:
    """Accuracy, Macro-F1 (mean of per-class F1) and Micro-F1 (= accuracy for single-label)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        raise ValueError("cannot score an empty set of nodes")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    denom = predicted + actual
    per_class_f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    micro = 2 * tp.sum() / (predicted.sum() + actual.sum())
    return {"accuracy": float(tp.sum() / len(y_true)), "macro_f1": float(per_class_f1.mean()), "micro_f1": float(micro)}


def score_logits(logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Metrics of argmax(logits) on the nodes `idx`."""
    pred = logits[idx].argmax(dim=-1).cpu().numpy()
    return classification_metrics(labels[idx].cpu().numpy(), pred, num_classes)


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """rows: {'model', 'kind', 'split', metric...} -> one row per model, columns '<split>_<metric>'."""
    frame = pd.DataFrame(rows)
    wide = frame.pivot_table(index=["model", "kind"], columns="split", values=list(METRICS), sort=False)
    wide.columns = [f"{split}_{metric}" for metric, split in wide.columns]
    ordered = [f"{s}_{m}" for s in ("val", "test") for m in METRICS if f"{s}_{m}" in wide.columns]
    return wide[ordered].reset_index()


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])
