"""One generic full-batch training loop with early stopping on validation Micro-F1. Pure torch."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hg2m.config import OptimConfig

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    best_epoch: int
    best_val_micro_f1: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TrainedModel:
    """A trained model, its logits on every target node (N, C), its fit history and per-split metrics."""

    model: nn.Module
    logits: torch.Tensor
    fit: FitResult
    metrics: dict[str, dict[str, float]]


def seed_everything(seed: int) -> None:
    """Seed python, numpy, torch (and DGL's sampler, which draws from torch/numpy)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' = CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA device (use 'cpu' or 'auto')")
    return torch.device(name)


def fit(
    model: nn.Module,
    loss_fn: Callable[[], torch.Tensor | Iterable[torch.Tensor]],
    val_score_fn: Callable[[], float | tuple[float, float]],
    optim: OptimConfig,
    on_epoch: EpochCallback | None = None,
) -> FitResult:
    """Adam on `loss_fn()`; keeps the weights of the best validation epoch and restores them at the end.

    loss_fn runs the model in train mode and returns the epoch's scalar loss (full batch), or an iterable
    of mini-batch losses, each stepped on before the next is computed (the epoch's loss is their mean);
    val_score_fn runs it in eval mode (under no_grad) and returns the validation Micro-F1 (accuracy for
    single-label classes), or (Micro-F1, validation loss): then an epoch that lowers the loss also counts as
    progress for early stopping, though the kept weights are still those of the best Micro-F1
    (hg2m.labels.validation says when). Of epochs that tie for the best Micro-F1 the last is kept, as GLNN's
    training loop keeps it (`score_val >= best_score_val`): on a small validation set (a few dozen held-out nodes
    in the inductive setting) ties are common, and the first epoch to reach a score may be an undertrained one
    that got there by luck. Only a strictly better score counts as progress, so ties do not prolong training.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    best_state, best_f1, best_epoch, history = None, -1.0, 0, []
    best_loss, progress_epoch = float("inf"), 0
    for epoch in range(1, optim.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        loss = train_epoch(loss_fn, optimizer)
        model.eval()
        with torch.no_grad():
            val_f1, val_loss = as_score_and_loss(val_score_fn())
        if val_f1 > best_f1:
            progress_epoch = epoch
        if val_f1 >= best_f1:  # a tie keeps the later epoch (see the docstring)
            best_f1, best_epoch, best_state = val_f1, epoch, copy.deepcopy(model.state_dict())
        if val_loss is not None and val_loss < best_loss:
            best_loss, progress_epoch = val_loss, epoch
        record = {"loss": loss, "val_micro_f1": val_f1, "best_val_micro_f1": best_f1,
                  "epoch_seconds": time.perf_counter() - started}  # training and validation
        history.append(record)
        if on_epoch:
            on_epoch(epoch, record)
        if optim.early_stopping and epoch - progress_epoch >= optim.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, best_val_micro_f1=best_f1, epochs_run=len(history), history=history)


def as_score_and_loss(value: float | tuple[float, float]) -> tuple[float, float | None]:
    return value if isinstance(value, tuple) else (value, None)


def train_epoch(loss_fn: Callable[[], torch.Tensor | Iterable[torch.Tensor]], optimizer: torch.optim.Optimizer) -> float:
    """One optimiser step per loss `loss_fn` yields; returns their mean."""
    losses = loss_fn()
    total, steps = 0.0, 0
    for loss in [losses] if isinstance(losses, torch.Tensor) else losses:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, steps = total + float(loss.detach()), steps + 1
    if steps == 0:
        raise ValueError("the training loss yielded no batch: is the train split empty?")
    return total / steps
