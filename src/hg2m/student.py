"""Train an MLP student on the target type's features: hard labels (`mlp`) or soft labels (`hg2m`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.losses import hg2m_loss
from hg2m.models.mlp import MLP
from hg2m.teacher import TrainedModel, split_metrics
from hg2m.train import EpochCallback, fit, seed_everything


def build_student(config: StudentConfig, in_dim: int, num_classes: int) -> MLP:
    return MLP(in_dim, num_classes, config.hidden_dim, config.num_layers, config.dropout, config.norm)


def predict_logits(model: MLP, features: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Inference on features alone, in batches: (N, D) -> (N, C) on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(features[i : i + batch_size].to(device)).cpu() for i in range(0, len(features), batch_size)])


def train_student(
    data: HeteroGraphData,
    teacher_logits: torch.Tensor | None,
    config: StudentConfig,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Transductive setting: the soft-label term covers every target node."""
    if config.method != "mlp" and teacher_logits is None:
        raise ValueError(f"student {config.name!r} ({config.method}) needs the teacher's logits")
    seed_everything(seed)
    features = data.target_features().to(device)
    labels = data.labels.to(device)
    train_idx, val_idx = data.splits["train"].to(device), data.splits["val"].to(device)
    all_idx = torch.arange(len(features), device=device)
    teacher = teacher_logits.to(device) if teacher_logits is not None else None
    model = build_student(config, features.shape[1], data.num_classes).to(device)

    def loss_fn() -> torch.Tensor:
        logits = model(features)
        if config.method == "mlp":
            return F.cross_entropy(logits[train_idx], labels[train_idx])
        return hg2m_loss(logits, teacher, labels, train_idx, all_idx, config.lambda_ce, config.temperature)

    def val_accuracy() -> float:
        return float((model(features[val_idx]).argmax(-1) == labels[val_idx]).float().mean())

    result = fit(model, loss_fn, val_accuracy, config.optim, on_epoch)
    model.cpu()
    logits = predict_logits(model, data.target_features())
    return TrainedModel(model=model, logits=logits, fit=result, metrics=split_metrics(logits, data))
