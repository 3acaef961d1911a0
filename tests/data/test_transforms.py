"""Per-node-type feature transforms (hg2m.data.transforms), on small tensors made here."""


import pytest
import torch
from torch import nn

from hg2m.data.transforms import (
    HEAVY_TAIL_RATIO,
    LOG1P_MIN_MAX,
    FeatureTransform,
    apply,
    apply_transforms,
    fit_transform,
    fit_transforms,
    transform_module,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def signed_dense(n: int = 300, d: int = 8, seed: int = 0) -> torch.Tensor:
    """Embedding-like: signed, columns with different offsets and spreads."""
    g = gen(seed)
    return torch.randn(n, d, generator=g) * torch.linspace(0.1, 5.0, d) + torch.linspace(-3.0, 3.0, d)


def binary_bow(n: int = 2000, d: int = 30, density: float = 0.05, seed: int = 1) -> torch.Tensor:
    """Sparse 0/1 bag-of-words, every column used by ~density x n rows."""
    dense = (torch.rand(n, d, generator=gen(seed)) < density).float()
    return dense.to_sparse().coalesce()


def heavy_counts(n: int = 2000, seed: int = 2) -> torch.Tensor:
    """(n,) non-negative counts with a Pareto tail: 30% of rows non-zero, most small, a few in the thousands."""
    g = gen(seed)
    pareto = torch.floor(torch.rand(n, generator=g).clamp_min(1e-4) ** -1.0)  # P(X >= k) ~ 1/k
    present = torch.rand(n, generator=g) < 0.3
    counts = pareto * present
    counts[0] = 5000.0  # the tail reaches the thousands whatever the draw
    return counts


def with_column(bow: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    return torch.cat([bow.to_dense(), column[:, None]], dim=1).to_sparse().coalesce()


# --- which transform is chosen --------------------------------------------------------------------------------

def test_heavy_tailed_counts_get_log1p():
    counts = heavy_counts()[:, None].repeat(1, 3)
    t = fit_transform(counts)
    assert t.log1p and "log1p" in t.reason and "99th percentile" in t.reason
    assert fit_transform(counts.to_sparse()).log1p


def test_signed_dense_gets_no_log1p_but_a_z_score():
    x = signed_dense()
    x[0, 0] = 1e4  # a huge outlier does not matter: log1p is never chosen for signed data
    t = fit_transform(x)
    assert not t.log1p and "signed" in t.reason
    y = apply(x, t)
    torch.testing.assert_close(y.mean(0), torch.zeros(x.shape[1]), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(0, unbiased=False), torch.ones(x.shape[1]), atol=1e-5, rtol=0)


def test_binary_bow_gets_no_log1p_and_stays_sparse():
    bow = binary_bow()
    t = fit_transform(bow)
    assert not t.log1p and t.center is None
    y = apply(bow, t)
    assert y.is_sparse and y.is_coalesced() and y.dtype == torch.float32
    assert torch.equal(y.indices(), bow.indices())
    torch.testing.assert_close(y.to_dense(), bow.to_dense())  # max-abs scaling leaves 0/1 data as it is


def test_bow_counts_and_small_heavy_values_get_no_log1p():
    # Term counts 1..5: max 5 is not 10x the 99th percentile.
    counts = (binary_bow().to_dense() * torch.randint(1, 6, (2000, 30), generator=gen(3))).to_sparse()
    assert not fit_transform(counts).log1p
    # A long tail that never leaves [0, 1] (frequencies): log1p would be nearly linear there.
    freq = heavy_counts()[:, None] / 1e4
    assert float(freq.max()) < LOG1P_MIN_MAX and not fit_transform(freq).log1p
    assert "log1p ~ linear" in fit_transform(freq).reason


def test_constant_and_empty_columns_get_scale_one():
    dense = torch.cat([signed_dense(d=3), torch.full((300, 1), 7.0), torch.zeros(300, 1)], dim=1)
    t = fit_transform(dense)
    assert t.scale[3:] == [1.0, 1.0] and "2 constant" in t.reason
    assert torch.equal(apply(dense, t)[:, 3:], torch.zeros(300, 2))
    sparse = with_column(binary_bow(), torch.zeros(2000))
    t = fit_transform(sparse)
    assert t.scale[-1] == 1.0 and "1 constant" in t.reason


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_transform(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="2-D"):
        fit_transform(torch.ones(4))
    with pytest.raises(ValueError, match="shape"):
        fit_transform(torch.ones(0, 3))
    t = fit_transform(signed_dense())
    with pytest.raises(ValueError, match="columns"):
        apply(torch.ones(2, 3), t)
    with pytest.raises(ValueError, match="densify"):
        apply(signed_dense().to_sparse(), t)


# --- apply, the module and the sparse layout agree -----------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: signed_dense(),                                  # z-score
    lambda: heavy_counts()[:, None].repeat(1, 4) * torch.tensor([1.0, 2.0, 0.5, 3.0]),  # log1p + z-score
    lambda: binary_bow().to_dense(),                         # dense 0/1
], ids=["signed", "heavy", "binary"])
def test_module_equals_apply_on_dense_rows(make):
    x = make()
    t = fit_transform(x)
    module = torch.jit.script(transform_module(t))
    torch.testing.assert_close(module(x), apply(x, t))
    torch.testing.assert_close(module(x[:7]), apply(x, t)[:7])  # row-wise: any batch


def test_module_on_sparse_fitted_transform_equals_sparse_apply():
    """A served student gets dense rows of a type that trained on sparse features."""
    x = with_column(binary_bow(), heavy_counts())
    t = fit_transform(x)
    assert t.log1p and t.center is None
    module = torch.jit.script(transform_module(t))
    torch.testing.assert_close(module(x.to_dense()), apply(x, t).to_dense())


def test_sparse_apply_equals_apply_on_its_dense_form():
    for x in (binary_bow(), with_column(binary_bow(), heavy_counts())):
        t = fit_transform(x)
        y = apply(x, t)
        assert y.is_sparse and y.is_coalesced() and y.dtype == torch.float32
        torch.testing.assert_close(y.to_dense(), apply(x.to_dense(), t))


def test_served_student_takes_raw_features():
    x = signed_dense()
    t = fit_transform(x)
    mlp = nn.Linear(x.shape[1], 3)
    served = torch.jit.script(nn.Sequential(transform_module(t), mlp))
    torch.testing.assert_close(served(x), mlp(apply(x, t)))
    with pytest.raises(torch.jit.Error, match="expected"):
        served(torch.ones(2, x.shape[1] + 1))


def test_negative_input_to_a_log1p_transform_gives_no_nan():
    t = fit_transform(heavy_counts()[:, None].repeat(1, 2))
    assert t.log1p
    rows = torch.tensor([[-5.0, -1.0]])
    assert bool(torch.isfinite(torch.jit.script(transform_module(t))(rows)).all())
    assert bool(torch.isfinite(apply(rows, t)).all())


# --- invariance -----------------------------------------------------------------------------------------------

def test_dense_signed_features_in_other_units_transform_the_same():
    x = signed_dense()
    torch.testing.assert_close(apply(x * 1000, fit_transform(x * 1000)), apply(x, fit_transform(x)),
                               atol=1e-4, rtol=1e-4)


def test_binary_bow_in_other_units_transforms_the_same():
    bow = binary_bow()
    big = bow * 1000
    t, t_big = fit_transform(bow), fit_transform(big)
    assert not t_big.log1p  # ratio 1 whatever the unit (and max 1000 >= LOG1P_MIN_MAX does not matter)
    torch.testing.assert_close(apply(big, t_big).to_dense(), apply(bow, t).to_dense())


def test_a_heavy_count_column_in_a_binary_bow():
    """One count column with values in the thousands added to binary bag-of-words.

    log1p is chosen, the count column lands on the same order as the others, and the binary columns keep
    their transformed values exactly: on 0/1 data log1p is x * log(2), a per-column factor that the
    per-column scale divides out again.
    """
    bow, counts = binary_bow(), heavy_counts()
    before = apply(bow, fit_transform(bow)).to_dense()
    x = with_column(bow, counts)
    t = fit_transform(x)
    assert t.log1p
    after = apply(x, t).to_dense()
    torch.testing.assert_close(after[:, :-1], before)
    assert float(after[:, -1].abs().max()) < 20
    assert float(after[:, -1].abs().max()) <= 2 * float(before.abs().max())
    # Without log1p, the per-column scale alone would leave the tail far out (why log1p is chosen here).
    rms = counts.pow(2).mean().sqrt()
    assert float(counts.max() / rms) > 20


def test_a_count_column_without_a_tail_changes_nothing_else():
    """Counts in the thousands but no tail (all within 2x): no log1p, scaled to the others' order."""
    bow = binary_bow()
    counts = (1000 + 1000 * torch.rand(2000, generator=gen(4))) * (torch.rand(2000, generator=gen(5)) < 0.3)
    x = with_column(bow, counts)
    t = fit_transform(x)
    assert not t.log1p
    after = apply(x, t).to_dense()
    torch.testing.assert_close(after[:, :-1], apply(bow, fit_transform(bow)).to_dense())
    assert float(after[:, -1].abs().max()) < 20


def test_a_heavy_column_in_count_bow_changes_other_columns_only_monotonically():
    """With counts 1..5 in the other columns, the log1p the new column brings changes their values (log1p is
    no longer a per-column factor), but only monotonically: zeros stay zero, order within a column is kept."""
    bow = binary_bow().to_dense() * torch.randint(1, 6, (2000, 30), generator=gen(3))
    t_bow = fit_transform(bow.to_sparse())
    before = apply(bow, t_bow)
    x = torch.cat([bow, heavy_counts()[:, None]], dim=1)
    t = fit_transform(x.to_sparse())
    assert t.log1p and not t_bow.log1p
    after = apply(x, t)[:, :-1]
    assert not torch.allclose(after, before)
    assert torch.equal(after == 0, before == 0)
    for j in range(bow.shape[1]):
        order = torch.argsort(bow[:, j], stable=True)
        assert bool((after[order, j].diff() >= 0).all()) and bool((before[order, j].diff() >= 0).all())


# --- serialisation and dicts ----------------------------------------------------------------------------------

def test_json_round_trip():
    for x in (signed_dense(), with_column(binary_bow(), heavy_counts())):
        t = fit_transform(x)
        back = FeatureTransform.model_validate_json(t.model_dump_json())
        assert back == t
        torch.testing.assert_close(apply(x, back).to_dense(), apply(x, t).to_dense(), rtol=0, atol=0)


def test_transform_is_frozen_and_validated():
    t = FeatureTransform(log1p=False, center=None, scale=[1.0, 2.0], reason="test")
    with pytest.raises(Exception):
        t.log1p = True
    with pytest.raises(ValueError, match="> 0"):
        FeatureTransform(log1p=False, center=None, scale=[1.0, 0.0], reason="test")
    with pytest.raises(ValueError, match="columns"):
        FeatureTransform(log1p=False, center=[0.0], scale=[1.0, 2.0], reason="test")


def test_fit_and_apply_per_node_type():
    features = {"author": signed_dense(), "paper": with_column(binary_bow(), heavy_counts())}
    transforms = fit_transforms(features)
    assert set(transforms) == {"author", "paper"}
    assert not transforms["author"].log1p and transforms["paper"].log1p
    out = apply_transforms(features, transforms)
    assert not out["author"].is_sparse and out["paper"].is_sparse
    torch.testing.assert_close(out["author"], apply(features["author"], transforms["author"]))
    only_author = apply_transforms({"author": features["author"]}, transforms)  # extra transforms are fine
    assert set(only_author) == {"author"}
    with pytest.raises(ValueError, match="paper"):
        apply_transforms(features, {"author": transforms["author"]})


def test_rule_constants_are_what_the_docstring_says():
    assert HEAVY_TAIL_RATIO == 10.0 and LOG1P_MIN_MAX == 10.0
