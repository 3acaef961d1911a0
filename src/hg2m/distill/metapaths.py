"""Reliable meta-path edges (HG2M+'s reliable meta-path distillation), from capped meta-path pairs
(`hg2m.graphs.metapaths`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from hg2m.graphs.metapaths import empty_frame
from hg2m.labels import agreement, same_label

EDGE_COLUMNS = {"src": "int64", "dst": "int64", "weight": "float64"}
LR_MAX_ITER = 200  # LBFGS iterations for the pair classifier; 3 features converge well before
LR_L2 = 1e-3  # small ridge penalty: keeps the weights finite when train-train pairs are separable
SAME_CLASS_THRESHOLD = 0.5  # a non-train pair is kept when predicted same-class
NORM_EPS = 1e-12  # below this a norm or a standard deviation counts as zero

PAIR_CHUNK = 1 << 18  # pairs per gather: both rows of all pairs at once take pairs x D x 16 bytes (GiBs at 1M papers)


PairFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def in_chunks(pair_fn: PairFn, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """pair_fn(i, j) -> (E,) computed PAIR_CHUNK pairs at a time, so the rows it gathers stay bounded."""
    chunks = [pair_fn(i[start : start + PAIR_CHUNK], j[start : start + PAIR_CHUNK])
              for start in range(0, len(i), PAIR_CHUNK)]
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.float64)


def row_cosine(features: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """(E,) float64 cosine similarity of rows i and j of (N, D) dense or sparse COO features (0 for a zero row)."""
    if features.is_sparse:
        coo = features.coalesce()
        rows, cols = coo.indices().numpy()
        matrix = sp.csr_matrix((coo.values().double().numpy(), (rows, cols)), shape=tuple(features.shape))
        rows_i, rows_j = matrix[i.numpy()], matrix[j.numpy()]
        dots = np.asarray(rows_i.multiply(rows_j).sum(1)).ravel()
        norms = np.sqrt(np.asarray(rows_i.multiply(rows_i).sum(1)).ravel() * np.asarray(rows_j.multiply(rows_j).sum(1)).ravel())
        return torch.from_numpy(dots / np.maximum(norms, NORM_EPS))
    return in_chunks(lambda i, j: dense_cosine(features, i, j), i, j)


def dense_cosine(features: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    x_i, x_j = features[i].double(), features[j].double()
    norms = (x_i.norm(dim=-1) * x_j.norm(dim=-1)).clamp_min(NORM_EPS)  # zero row: dot is 0, so cosine 0
    return (x_i * x_j).sum(-1) / norms


def pair_features(pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """(E, 3) float64: cosine similarity of the features (0 for an all-zero row), path count, and the teacher's
    probability that the two share their label (p_i . p_j; hg2m.labels.agreement)."""
    i = torch.tensor(pairs["node"].to_numpy(), dtype=torch.int64)
    j = torch.tensor(pairs["neighbour"].to_numpy(), dtype=torch.int64)
    cosine = row_cosine(features, i, j)
    count = torch.tensor(pairs["count"].to_numpy(), dtype=torch.float64)
    agree = in_chunks(lambda i, j: agreement(teacher_probs[i].double(), teacher_probs[j].double()), i, j)
    return torch.stack([cosine, count, agree], dim=1)


def standardise(x: torch.Tensor, fit_rows: torch.Tensor) -> torch.Tensor:
    """(E, D) -> (E, D) with the fit rows' mean and std; a constant column is only centred."""
    mean, std = x[fit_rows].mean(0), x[fit_rows].std(0, unbiased=False)
    return (x - mean) / torch.where(std > NORM_EPS, std, torch.ones_like(std))


def same_class_probability(x: torch.Tensor, fit_rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(E, D) features -> (E,) P(same class) from a logistic regression fit on `fit_rows` (target (F,) in {0, 1})."""
    z = standardise(x, fit_rows)
    weight = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)  # zero start: deterministic
    optimizer = torch.optim.LBFGS([weight], max_iter=LR_MAX_ITER, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = z[fit_rows] @ weight[:-1] + weight[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + LR_L2 * weight[:-1].pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return torch.sigmoid(z @ weight[:-1] + weight[-1])


def pair_weights(pairs: pd.DataFrame, x: torch.Tensor, labels: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(E,) weight per pair: 1 / 0 for train-train pairs by label equality, else P(same) if > threshold, else 0."""
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    both_train = train[i] & train[j]
    same = same_label(labels, i, j)
    if len(np.unique(same[both_train])) == 2:
        fit_rows = torch.from_numpy(np.flatnonzero(both_train))
        probability = same_class_probability(x, fit_rows, torch.from_numpy(same[both_train]).double()).numpy()
    else:
        # The classifier cannot be fitted without both outcomes among train-train pairs; p_i . p_j, the
        # teacher's own probability that the two nodes share a class, stands in for its prediction.
        probability = x[:, 2].numpy()
    predicted = np.where(probability > SAME_CLASS_THRESHOLD, probability, 0.0)
    return np.where(both_train, same.astype(np.float64), predicted)


def directed_edges(i: np.ndarray, j: np.ndarray, weight: np.ndarray, reliable: np.ndarray) -> pd.DataFrame:
    """Pairs (E,) -> edges u -> v from each reliable endpoint u (p_u supervises q_v), sorted by (src, dst)."""
    forward, backward = reliable[i], reliable[j]
    edges = pd.DataFrame({
        "src": np.r_[i[forward], j[backward]],
        "dst": np.r_[j[forward], i[backward]],
        "weight": np.r_[weight[forward], weight[backward]],
    })
    return edges.sort_values(["src", "dst"], ignore_index=True)


def min_max(weight: np.ndarray) -> np.ndarray:
    """(E,) -> (E,) scaled to [0, 1]; all ones when every weight is equal."""
    low, high = (weight.min(), weight.max()) if len(weight) else (0.0, 0.0)
    return (weight - low) / (high - low) if high > low else np.ones_like(weight)


def reliable_metapath_edges(
    pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor, labels: torch.Tensor,
    train_mask: torch.Tensor, reliable_mask: torch.Tensor, observed_mask: torch.Tensor, min_weight: float = 0.01,
) -> pd.DataFrame:
    """(pairs of ONE meta-path: node, neighbour, count; features (N, D); probs (N, C); labels and masks (N,))
    -> directed weighted edges src, dst, weight."""
    observed, reliable = observed_mask.cpu().numpy(), reliable_mask.cpu().numpy()
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    pairs = pairs[observed[i] & observed[j] & (reliable[i] | reliable[j])]
    if len(pairs) == 0:
        return empty_frame(EDGE_COLUMNS)
    x = pair_features(pairs, features.detach().cpu(), teacher_probs.detach().cpu())
    weight = pair_weights(pairs, x, labels.cpu().numpy(), train_mask.cpu().numpy())
    chosen = weight > 0
    i, j = pairs["node"].to_numpy()[chosen], pairs["neighbour"].to_numpy()[chosen]
    edges = directed_edges(i, j, weight[chosen], reliable)
    edges["weight"] = min_max(edges["weight"].to_numpy())
    return edges[edges["weight"] > min_weight].reset_index(drop=True).astype(EDGE_COLUMNS)
