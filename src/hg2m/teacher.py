"""Train a teacher HGNN full-batch and write its soft labels (logits for every target node)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dgl
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.config import GraphConfig, SamplingConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.evaluate import score_logits
from hg2m.inductive import observed_graph
from hg2m.models import Teacher, TeacherOutput, build_teacher
from hg2m.models.base import ids_by_type
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
    metapaths: dict[str, list[str]] | None = None,
) -> TrainedModel:
    """Cross-entropy on the train nodes, full batch or on sampled mini-batches (`config.sampling`);
    validation accuracy is measured full-graph after every epoch and the best epoch's model is kept."""
    seed_everything(seed)
    model = build_teacher(config, data, graph_config, metapaths).to(device)
    view = model.graph_view(data.graph)  # built once: HAN's meta-path graphs take seconds
    graph = view.to(device)
    features = {t: f.to(device) for t, f in data.features.items()}
    labels = data.labels.to(device)
    train_idx, val_idx = data.splits["train"].to(device), data.splits["val"].to(device)

    def full_batch_loss() -> torch.Tensor:
        logits = model(graph, features).logits
        return F.cross_entropy(logits[train_idx], labels[train_idx])

    def val_accuracy() -> float:
        pred = model(graph, features).logits[val_idx].argmax(-1)
        return float((pred == labels[val_idx]).float().mean())

    loss_fn = full_batch_loss
    if config.sampling.enabled:
        loss_fn = sampled_losses(model, graph, features, labels, train_idx, config.sampling)
    result = fit(model, loss_fn, val_accuracy, config.optim, on_epoch)
    model.cpu()
    logits = infer(model, data, view).logits
    return TrainedModel(model=model, logits=logits, fit=result, metrics=split_metrics(logits, data))


def sampled_losses(
    model: Teacher, graph: dgl.DGLGraph, features: dict[str, torch.Tensor], labels: torch.Tensor,
    train_idx: torch.Tensor, sampling: SamplingConfig,
) -> Callable[[], Iterator[torch.Tensor]]:
    """An epoch of mini-batch losses: DGL neighbour sampling (`fanouts` per layer) around shuffled train nodes."""
    target = model.target_type
    loader = dgl.dataloading.DataLoader(
        graph, {target: train_idx}, dgl.dataloading.NeighborSampler(sampling.fanouts),
        batch_size=sampling.batch_size, shuffle=True, drop_last=False, device=train_idx.device,
    )

    def epoch() -> Iterator[torch.Tensor]:
        for input_nodes, output_nodes, blocks in loader:
            logits = model(blocks, features, ids_by_type(input_nodes, graph)).logits
            yield F.cross_entropy(logits, labels[ids_by_type(output_nodes, graph)[target]])

    return epoch


def infer(model: Teacher, data: HeteroGraphData, view: dgl.DGLGraph | None = None) -> TeacherOutput:
    """Full-neighbourhood inference on the CPU: logits (N, C) and every type's embeddings. `view` is
    `model.graph_view(data.graph)` when the caller has it already."""
    model.eval()
    with torch.no_grad():
        return model(model.graph_view(data.graph) if view is None else view, data.features)


def train_teacher_for_setting(
    data: HeteroGraphData, hidden: torch.Tensor, config: TeacherConfig, graph_config: GraphConfig, seed: int,
    device: torch.device, on_epoch: EpochCallback | None = None, metapaths: dict[str, list[str]] | None = None,
) -> TrainedModel:
    """Train on the observed graph (hidden nodes' edges removed); the returned logits are the observed
    graph's for observed nodes and the full graph's for hidden ones, which only evaluation reads."""
    trained = train_teacher(observed_graph(data, hidden), config, graph_config, seed, device, on_epoch, metapaths)
    if len(hidden):
        trained.logits[hidden] = infer(trained.model, data).logits[hidden]
        trained.metrics = split_metrics(trained.logits, data)
    return trained


def logits_to_frame(logits: torch.Tensor, observed: torch.Tensor) -> pd.DataFrame:
    """(N, C) logits -> `id`, `observed` and one `logit_<c>` column per class: the soft-label contract."""
    frame = pd.DataFrame(logits.numpy(), columns=[f"{LOGIT_PREFIX}{c}" for c in range(logits.shape[1])])
    frame.insert(0, "observed", observed.numpy())
    frame.insert(0, "id", range(len(frame)))
    return frame


def frame_to_observed(frame: pd.DataFrame) -> torch.Tensor:
    """(N,) bool: the nodes whose soft labels a student may use."""
    return torch.from_numpy(frame.sort_values("id")["observed"].to_numpy(dtype=bool).copy())


def frame_to_logits(frame: pd.DataFrame) -> torch.Tensor:
    """Inverse of logits_to_frame; rows are put back in id order."""
    columns = [c for c in frame.columns if c.startswith(LOGIT_PREFIX)]
    ordered = frame.sort_values("id")
    return torch.tensor(ordered[columns].to_numpy(), dtype=torch.float32)
