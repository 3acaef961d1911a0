import pytest
import torch

from hg2m.config import OptimConfig
from hg2m.train import fit, resolve_device


def test_fit_restores_best_epoch_and_stops_early():
    model = torch.nn.Linear(1, 1, bias=False)
    scores = iter([0.1, 0.5, 0.3, 0.2, 0.2, 0.9])
    weights = []

    def loss_fn():
        return (model.weight - 10.0).pow(2).sum()

    def val():
        weights.append(model.weight.item())
        return next(scores)

    seen = []
    result = fit(model, loss_fn, val, OptimConfig(lr=0.1, max_epochs=6, patience=3), lambda e, r: seen.append(e))
    # best at epoch 2; epochs 3, 4, 5 do not improve -> stop after epoch 5 (0.9 at epoch 6 never seen)
    assert (result.best_epoch, result.best_val_micro_f1, result.epochs_run) == (2, 0.5, 5)
    assert seen == [1, 2, 3, 4, 5]
    assert model.weight.item() == pytest.approx(weights[1])
    assert [r["best_val_micro_f1"] for r in result.history] == [0.1, 0.5, 0.5, 0.5, 0.5]


def test_a_tie_keeps_the_later_epoch_without_prolonging_training():
    model = torch.nn.Linear(1, 1, bias=False)
    scores = iter([0.1, 0.5, 0.3, 0.5, 0.2, 0.9])
    weights = []

    def val():
        weights.append(model.weight.item())
        return next(scores)

    result = fit(model, lambda: (model.weight - 10.0).pow(2).sum(), val, OptimConfig(lr=0.1, max_epochs=6, patience=3))
    # epoch 4 ties epoch 2's 0.5 and is kept; only epoch 2 was progress, so training stops after epoch 5
    assert (result.best_epoch, result.best_val_micro_f1, result.epochs_run) == (4, 0.5, 5)
    assert model.weight.item() == pytest.approx(weights[3]) and weights[3] != pytest.approx(weights[1])


def test_a_falling_validation_loss_keeps_a_flat_score_training():
    """Multi-label plateaus (hg2m.labels.validation): the score is flat, the loss still falls, training goes on;
    the weights kept are still those of the best score."""
    model = torch.nn.Linear(1, 1, bias=False)
    values = iter([(0.4, 0.9), (0.4, 0.8), (0.4, 0.7), (0.4, 0.6), (0.6, 0.65), (0.5, 0.7), (0.5, 0.7), (0.9, 0.1)])
    result = fit(model, lambda: (model.weight - 1.0).pow(2).sum(), lambda: next(values),
                 OptimConfig(lr=0.1, max_epochs=8, patience=2))
    # progress: score at 1 and 5, loss at 1-4; after epoch 5, epochs 6 and 7 bring neither -> stop after 7
    assert (result.best_epoch, result.best_val_micro_f1, result.epochs_run) == (5, 0.6, 7)


def test_device_resolution_never_falls_back_silently():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
