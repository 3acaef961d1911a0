"""Feature preprocessing: one transform per node type, chosen from that type's feature statistics.

Raw count features with a long tail (a few values in the thousands, most in single digits) give attention
teachers logits dominated by a handful of entries, and they collapse. Before anything trains, each node type
with features gets a `FeatureTransform`, fitted on its own feature matrix:

    y = (log1p(x) - center) / scale        (log1p and center optional; all per column)

What is chosen, and why:

1. log1p, only for non-negative data with a heavy tail. The statistic is the ratio of the largest value to the
   99th percentile of the non-zero values (zeros are excluded: in sparse data they are absence, not small
   values). log1p is chosen when that ratio exceeds HEAVY_TAIL_RATIO *and* the largest value reaches
   LOG1P_MIN_MAX. The ratio is unit-free; the second test is not, on purpose: log1p only bends for x of
   order 1 and above, so on data that never gets there (frequencies, row-normalised bag-of-words) it is
   nearly the identity and cannot shorten a tail. Signed data (e.g. embeddings) never gets log1p: log1p is
   undefined below -1 and meaningless for centred data. Binary data never gets it: its ratio is 1.
2. Per-column scaling, so that no column dominates by its units:
   - signed dense features (e.g. embeddings): z-score, center = column mean, scale = column standard
     deviation (population, over all rows); a constant column gets scale 1 (it becomes 0).
   - non-negative or sparse features (bag-of-words, counts, frequencies): no centering (zeros stay zero and
     sparse data sparse), scale = the column's largest |value|, so every column lies in [0, 1]; an all-zero
     column gets scale 1. Binary bag-of-words passes unchanged. Unit-variance scaling was tried first: it
     weights a word seen once by sqrt(N), an IDF-like reweighting that cost DBLP's RGCN 5 points and made
     IMDB's HGT collapse (57 -> 38 test accuracy); max-abs scaling did neither.
   Both are invariant to multiplying a column by a constant, so features in other units give the same
   transformed features as long as the log1p decision does not change (it never does for signed or binary
   data); and log1p on binary data is x * log 2, which the per-column scale divides out again.

The statistics come from every node's features of the type (train, val, test and unlabelled alike) and from
no labels: fitting is unsupervised, the same information a transductive GNN already sees in its input.

`apply` transforms a feature matrix (sparse stays sparse); `transform_module` is the same transform as a
TorchScript-able module on dense rows, so a served student is `nn.Sequential(transform_module(t), mlp)` and
takes raw features. A `FeatureTransform` is a frozen pydantic model, so it serialises to JSON (an artifact,
an MLflow param file) and back.
"""

# No `from __future__ import annotations`: TorchScript must see FeatureTransformModule's Final[bool] as a type.
import math
from typing import Final

import torch
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from torch import nn

# log1p when max > HEAVY_TAIL_RATIO x (99th percentile of the non-zero values): 1 value in 100 may be
# large, but the largest an order of magnitude beyond that is a tail no per-column scale can fix (after
# scaling, the tail's values would still be ~10x everyone else's). Bag-of-words counts (max a few times the
# typical count) and binary features (ratio 1) stay well below it.
HEAVY_TAIL_RATIO: Final[float] = 10.0
# ... and max >= LOG1P_MIN_MAX: log1p(x) / x > 0.24 for x <= 10, i.e. below this log1p is within ~4x of
# linear over the whole range and hardly shortens a tail; such data (e.g. frequencies in [0, 1]) is left to
# the per-column scaling alone.
LOG1P_MIN_MAX: Final[float] = 10.0
TAIL_QUANTILE: Final[float] = 0.99
# The percentile is computed on at most this many non-zero values, a fixed-seed sample beyond it: the
# statistic only needs two significant digits, and torch.quantile refuses inputs over 2**24 elements.
QUANTILE_SAMPLE: Final[int] = 1 << 24
QUANTILE_SEED: Final[int] = 0
# A column whose std (dense) or RMS (sparse) is at most this fraction of its largest |value| is constant
# (float round-off of a two-pass std on a constant column is ~1e-8 relative, real variation far above).
CONSTANT_TOL: Final[float] = 1e-6
# Dense column statistics are accumulated in float64 over blocks of this many rows, bounding extra memory.
ROW_BLOCK: Final[int] = 1 << 16


class FeatureTransform(BaseModel):
    """y = (log1p(max(x, 0)) if log1p else x) - center (if any), divided by scale; per column, float32.

    center: per-column, only for dense features (None keeps sparse features sparse).
    scale: per-column, every entry finite and > 0.
    reason: the statistics that chose this transform, for people reading the run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    log1p: bool
    center: list[float] | None
    scale: list[float]
    reason: str

    @field_validator("scale")
    @classmethod
    def positive_scale(cls, scale: list[float]) -> list[float]:
        if not scale:
            raise ValueError("scale is empty: a transform needs at least one column")
        bad = [i for i, s in enumerate(scale) if not (math.isfinite(s) and s > 0)]
        if bad:
            raise ValueError(f"scale must be finite and > 0; columns {bad[:5]} are not")
        return scale

    @field_validator("center")
    @classmethod
    def finite_center(cls, center: list[float] | None) -> list[float] | None:
        if center is not None and not all(math.isfinite(c) for c in center):
            raise ValueError("center must be finite")
        return center

    @model_validator(mode="after")
    def same_width(self) -> "FeatureTransform":
        if self.center is not None and len(self.center) != len(self.scale):
            raise ValueError(f"center has {len(self.center)} columns, scale {len(self.scale)}")
        return self

    @property
    def dim(self) -> int:
        return len(self.scale)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _values(features: torch.Tensor) -> torch.Tensor:
    """The stored values: every entry of a dense matrix, the explicit entries of a sparse one."""
    return features.coalesce().values() if features.is_sparse else features.reshape(-1)


def _quantile(values: torch.Tensor, q: float) -> float:
    if values.numel() > QUANTILE_SAMPLE:
        generator = torch.Generator().manual_seed(QUANTILE_SEED)
        values = values[torch.randint(values.numel(), (QUANTILE_SAMPLE,), generator=generator)]
    return float(torch.quantile(values.double(), q))


def choose_log1p(features: torch.Tensor) -> tuple[bool, str]:
    """Whether `features` get log1p, and the statistic that decided it (see the module docstring)."""
    values = _values(features)
    kind = "sparse" if features.is_sparse else "dense"
    lowest = float(values.min()) if values.numel() else 0.0
    if lowest < 0:
        return False, f"{kind}, signed (min {_fmt(lowest)}): no log1p"
    nonzero = values[values != 0]
    if nonzero.numel() == 0:
        return False, f"{kind}, all zero: no log1p"
    top, tail = float(nonzero.max()), _quantile(nonzero, TAIL_QUANTILE)
    stat = f"max {_fmt(top)}, 99th percentile of non-zeros {_fmt(tail)}"
    if top > HEAVY_TAIL_RATIO * tail and top >= LOG1P_MIN_MAX:
        return True, f"{kind}, non-negative, {stat} (max > {HEAVY_TAIL_RATIO:g}x, >= {LOG1P_MIN_MAX:g}): log1p"
    if top > HEAVY_TAIL_RATIO * tail:
        return False, f"{kind}, non-negative, {stat} (max < {LOG1P_MIN_MAX:g}, log1p ~ linear): no log1p"
    return False, f"{kind}, non-negative, {stat} (max <= {HEAVY_TAIL_RATIO:g}x): no log1p"


def _log1p(x: torch.Tensor) -> torch.Tensor:
    # clamp: log1p is only chosen for data with no negative values; a negative value reaching a served model
    # would otherwise give NaN (or -inf at -1). The same op runs in `apply` and in the module.
    return torch.log1p(torch.clamp(x, min=0.0))


def _dense_moments(features: torch.Tensor, log1p: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-column mean, population std and max |value| (float64) of a dense matrix, two passes over row blocks."""
    n, d = features.shape
    total, peak = torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    blocks = [(s, min(s + ROW_BLOCK, n)) for s in range(0, n, ROW_BLOCK)]

    def block(s: int, e: int) -> torch.Tensor:
        x = features[s:e].to(torch.float32)
        return (_log1p(x) if log1p else x).double()

    for s, e in blocks:
        x = block(s, e)
        total += x.sum(0)
        peak = torch.maximum(peak, x.abs().amax(0))
    mean = total / n
    squares = torch.zeros(d, dtype=torch.float64)
    for s, e in blocks:
        squares += ((block(s, e) - mean) ** 2).sum(0)
    return mean, (squares / n).sqrt(), peak


def _sparse_peak(features: torch.Tensor, log1p: bool) -> torch.Tensor:
    """Per-column max |value| (float64) of a sparse matrix."""
    features = features.coalesce()
    cols = features.indices()[1]
    values = features.values().to(torch.float32)
    values = (_log1p(values) if log1p else values).double()
    return torch.zeros(features.shape[1], dtype=torch.float64).scatter_reduce_(0, cols, values.abs(), reduce="amax")


def _safe_scale(spread: torch.Tensor, peak: torch.Tensor, zero_only: bool = False) -> tuple[list[float], int]:
    """`spread` with constant (or all-zero; with `zero_only`, only all-zero) columns set to 1, and how many."""
    constant = spread == 0 if zero_only else spread <= CONSTANT_TOL * peak
    return torch.where(constant, torch.ones_like(spread), spread).tolist(), int(constant.sum())


def _check(features: torch.Tensor) -> None:
    if features.dim() != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"features must be floating point, got {features.dtype}")
    if not bool(torch.isfinite(_values(features)).all()):
        raise ValueError("features contain NaN or inf")


def fit_transform(features: torch.Tensor) -> FeatureTransform:
    """The transform for one node type's (N, D) features, dense or sparse COO (rules: module docstring)."""
    _check(features)
    n, d = features.shape
    if n == 0 or d == 0:
        raise ValueError(f"cannot fit a transform on features of shape {(n, d)}")
    features = features.detach().cpu()
    log1p, reason = choose_log1p(features)
    if features.is_sparse:
        peak, signed = _sparse_peak(features, log1p), False
    else:
        mean, std, peak = _dense_moments(features, log1p)
        signed = bool(_values(features).min() < 0)
    if signed:
        scale, constant = _safe_scale(std, peak)
        center, how = mean.tolist(), "signed: per-column z-score"
    else:
        # Max-abs, not unit variance: a column's largest value becomes 1 and zeros stay zero, so binary
        # bag-of-words passes unchanged. Unit variance would weight a word seen once by sqrt(N) (an IDF-like
        # reweighting that made IMDB's HGT collapse from 57 to 38 test accuracy).
        scale, constant = _safe_scale(peak, peak, zero_only=True)
        center, how = None, "non-negative: per-column max-abs scale, no centering (zeros stay zero, sparse stays sparse)"
    if constant:
        how += f"; {constant} constant column(s) get scale 1"
    return FeatureTransform(log1p=log1p, center=center, scale=scale, reason=f"{reason}; {how}")


def _check_width(features: torch.Tensor, transform: FeatureTransform) -> None:
    if features.dim() != 2 or features.shape[1] != transform.dim:
        raise ValueError(f"features of shape {tuple(features.shape)} do not fit a transform of {transform.dim} columns")


def apply(features: torch.Tensor, transform: FeatureTransform) -> torch.Tensor:
    """`features` (N, D) transformed, float32, in the same layout: dense stays dense, sparse stays sparse COO
    (coalesced). A transform with a center (fitted on dense features) cannot keep sparse input sparse and
    refuses it."""
    _check_width(features, transform)
    scale = torch.tensor(transform.scale, dtype=torch.float32, device=features.device)
    if features.is_sparse:
        if transform.center is not None:
            raise ValueError("this transform centres its columns (fitted on dense features): "
                             "densify sparse features before applying it")
        features = features.coalesce()
        values = features.values().to(torch.float32)
        if transform.log1p:
            values = _log1p(values)
        values = values / scale[features.indices()[1]]
        return torch.sparse_coo_tensor(features.indices(), values, features.shape, is_coalesced=True)
    x = features.to(torch.float32)
    if transform.log1p:
        x = _log1p(x)
    if transform.center is not None:
        x = x - torch.tensor(transform.center, dtype=torch.float32, device=features.device)
    return x / scale


class FeatureTransformModule(nn.Module):
    """A FeatureTransform on dense (B, D) rows, TorchScript-able; same float32 ops, in the same order, as `apply`."""

    log1p: Final[bool]
    centered: Final[bool]

    def __init__(self, transform: FeatureTransform):
        super().__init__()
        self.log1p = transform.log1p
        self.centered = transform.center is not None
        center = transform.center if transform.center is not None else [0.0] * transform.dim
        self.register_buffer("center", torch.tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(transform.scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.size(1) != self.scale.size(0):
            raise ValueError("FeatureTransformModule: expected (B, " + str(self.scale.size(0)) + ") rows")
        x = x.to(torch.float32)
        if self.log1p:
            x = torch.log1p(torch.clamp(x, min=0.0))
        if self.centered:
            x = x - self.center
        return x / self.scale


def transform_module(transform: FeatureTransform) -> nn.Module:
    """`transform` as a module on dense raw rows (B, D) -> (B, D), for `nn.Sequential(module, student)`."""
    return FeatureTransformModule(transform)


def fit_transforms(features: dict[str, torch.Tensor]) -> dict[str, FeatureTransform]:
    """One transform per node type with features, each fitted on that type's features alone."""
    return {node_type: fit_transform(feats) for node_type, feats in features.items()}


def apply_transforms(features: dict[str, torch.Tensor], transforms: dict[str, FeatureTransform]) -> dict[str, torch.Tensor]:
    """Every node type's features transformed; each needs a transform (extra transforms are ignored)."""
    missing = sorted(set(features) - set(transforms))
    if missing:
        raise ValueError(f"no feature transform for node type(s) {missing}; transforms cover {sorted(transforms)}")
    return {node_type: apply(feats, transforms[node_type]) for node_type, feats in features.items()}
