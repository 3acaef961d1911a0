"""Train a teacher HGNN full-batch and write its soft labels (logits for every target node)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.config import GraphConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.evaluate import score_logits
from hg2m.models import build_teacher
from hg2m.train import EpochCallback, FitResult, fit, seed_everything

LOGIT_PREFIX = "logit_"


@dataclass
class TrainedModel:
    """A trained model, its logits on every target node (N, C), its fit history and per-split metrics."""

    model: nn.Module
    logits: torch.Tensor
    fit: FitResult
    metrics: dict[str, dict[str, float]]


def split_metrics(logits: torch.Tensor, data: HeteroGraphData) -> dict[str, dict[str, float]]:
    return {name: score_logits(logits, data.labels, idx, data.num_classes) for name, idx in data.splits.items()}


def train_teacher(
    data: HeteroGraphData,
    config: TeacherConfig,
    graph_config: GraphConfig,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Cross-entropy on the train nodes; the model of the best validation epoch is kept."""
    seed_everything(seed)
    model = build_teacher(config, data, graph_config).to(device)
    graph = data.graph.to(device)
    features = {t: f.to(device) for t, f in data.features.items()}
    labels = data.labels.to(device)
    train_idx, val_idx = data.splits["train"].to(device), data.splits["val"].to(device)

    def loss_fn() -> torch.Tensor:
        logits = model(graph, features).logits
        return F.cross_entropy(logits[train_idx], labels[train_idx])

    def val_accuracy() -> float:
        pred = model(graph, features).logits[val_idx].argmax(-1)
        return float((pred == labels[val_idx]).float().mean())

    result = fit(model, loss_fn, val_accuracy, config.optim, on_epoch)
    with torch.no_grad():
        logits = model(graph, features).logits.cpu()
    model.cpu()
    return TrainedModel(model=model, logits=logits, fit=result, metrics=split_metrics(logits, data))


def logits_to_frame(logits: torch.Tensor) -> pd.DataFrame:
    """(N, C) logits -> DataFrame with `id` and one `logit_<c>` column per class: the soft-label contract."""
    frame = pd.DataFrame(logits.numpy(), columns=[f"{LOGIT_PREFIX}{c}" for c in range(logits.shape[1])])
    frame.insert(0, "id", range(len(frame)))
    return frame


def frame_to_logits(frame: pd.DataFrame) -> torch.Tensor:
    """Inverse of logits_to_frame; rows are put back in id order."""
    columns = [c for c in frame.columns if c.startswith(LOGIT_PREFIX)]
    ordered = frame.sort_values("id")
    return torch.tensor(ordered[columns].to_numpy(), dtype=torch.float32)
