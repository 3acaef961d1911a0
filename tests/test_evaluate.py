import pandas as pd
import pytest

from hg2m.evaluate import (
    classification_metrics,
    mean_interval,
    paired_difference,
    select_best,
    select_teacher,
    selection_reason,
    selection_scores,
    teacher_name,
    teacher_warnings,
)


def test_metrics_hand_computed():
    # true 0 0 1 1 2 2 / pred 0 1 1 1 2 0
    # class 0: tp 1, fp 1, fn 1 -> F1 0.5; class 1: tp 2, fp 1, fn 0 -> 0.8; class 2: tp 1, fp 0, fn 1 -> 2/3
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], num_classes=3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_absent_class_counts_as_zero_f1():
    m = classification_metrics([0, 0], [0, 0], num_classes=2)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == pytest.approx(0.5)


def test_empty_set_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        classification_metrics([], [], num_classes=2)


def test_production_combines_observed_and_held_out():
    import torch

    from hg2m.evaluate import score_parts

    logits = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0, 0])
    parts = {"test_observed": torch.tensor([0, 1, 2, 3]), "test_held_out": torch.tensor([4])}
    scores = score_parts(logits, labels, parts, num_classes=2, held_out_fraction=0.2)
    assert scores["test_observed"]["accuracy"] == pytest.approx(0.75)
    assert scores["test_held_out"]["accuracy"] == 0.0
    assert scores["production"]["accuracy"] == pytest.approx(0.8 * 0.75 + 0.2 * 0.0)


def test_summary_mean_and_std_over_seeds():
    import pandas as pd

    from hg2m.evaluate import display_table, summary_table

    results = pd.DataFrame([
        {"model": "hg2m", "method": "hg2m", "setting": "transductive", "seed": s, "part": "test",
         "accuracy": a, "macro_f1": a, "micro_f1": a} for s, a in [(0, 0.8), (1, 0.9)]
    ])
    summary = summary_table(results)
    assert summary.loc[0, "seeds"] == 2
    assert summary.loc[0, "micro_f1_mean"] == pytest.approx(0.85)
    assert summary.loc[0, "micro_f1_std"] == pytest.approx(0.0707107, rel=1e-5)  # sample std of 0.8, 0.9
    assert display_table(summary).loc[0, "micro_f1"] == "85.00 ± 7.07"


def results_frame(val: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """Long results with one seed: model -> (method, val micro_f1)."""
    return pd.DataFrame([{"model": m, "method": kind, "setting": "transductive", "seed": 0, "part": "val",
                          "accuracy": v, "macro_f1": v, "micro_f1": v} for m, (kind, v) in val.items()])


def test_a_teacher_below_the_plain_mlp_is_named_and_the_registration_says_why():
    weak = results_frame({"rgcn": ("teacher", 0.60), "mlp": ("mlp", 0.70), "hg2m": ("hg2m", 0.72)})
    (warning,) = teacher_warnings(weak)
    assert "teacher rgcn is below the plain MLP mlp on validation in transductive (0.6000 < 0.7000" in warning
    assert select_best(weak, "transductive", 0.2) == ("hg2m", 0)
    assert selection_reason(weak, "transductive", "hg2m", 0.2) == (
        "hg2m: the best of 2 students by mean validation micro_f1 in transductive (0.7200); teacher rgcn 0.6000, plain "
        "MLP 0.7000")
    strong = results_frame({"rgcn": ("teacher", 0.90), "mlp": ("mlp", 0.70), "hg2m": ("hg2m", 0.88)})
    assert teacher_warnings(strong) == []


def test_with_the_inductive_setting_run_the_registration_mixes_in_held_out_validation():
    # hg2m copies the teacher best on observed nodes; hg2m_nb generalises to new ones: 0.8 * 0.90 + 0.2 * 0.70 = 0.86
    # against 0.8 * 0.885 + 0.2 * 0.85 = 0.878 (its seeds: 0.89, 0.88)
    rows = [{"model": m, "method": m, "setting": setting, "seed": seed, "part": part, "micro_f1": v}
            for seed in (0, 1)
            for m, trans, held in [("hg2m", 0.90, 0.70), ("hg2m_nb", 0.89 - 0.01 * seed, 0.85)]
            for setting, part, v in [("transductive", "val", trans), ("inductive", "val", trans),
                                     ("inductive", "val_held_out", held)]]
    results = pd.DataFrame(rows)
    assert select_best(results, "transductive", 0.2) == ("hg2m_nb", 0)
    assert selection_scores(results, "transductive", 0.2).to_dict() == pytest.approx({"hg2m": 0.86, "hg2m_nb": 0.878})
    assert select_best(results, "transductive", 0.0) == ("hg2m", 0)  # f = 0: observed validation alone
    transductive_only = results[results["setting"] == "transductive"]
    assert select_best(transductive_only, "transductive", 0.2) == ("hg2m", 0)
    assert selection_reason(results, "transductive", "hg2m_nb", 0.2).startswith(
        "hg2m_nb: the best of 2 students by 0.8 x mean validation micro_f1 in transductive + 0.2 x mean held-out "
        "validation micro_f1 in inductive (0.8780)")


def test_teacher_selection_takes_the_best_validation_score_and_the_first_of_ties():
    assert select_teacher({"rgcn": 0.80, "han": 0.85, "hgt": 0.84})[0] == "han"
    assert select_teacher({"rgcn": 0.85, "han": 0.85})[0] == "rgcn"
    chosen, reason = select_teacher({"rgcn": 0.80, "hgt": 0.84})
    assert reason == "hgt: best validation micro_f1 of 2 teachers (0.8400); rgcn 0.8000"


def test_candidate_teachers_are_neither_students_nor_the_teacher():
    # a candidate that beat every student on validation is still not registrable, nor warned about
    results = results_frame({"han": ("teacher", 0.90), "candidate_rgcn": ("teacher_candidate", 0.99),
                             "mlp": ("mlp", 0.70), "hg2m": ("hg2m", 0.88)})
    assert select_best(results, "transductive", 0.2) == ("hg2m", 0)
    assert teacher_name(results) == "han"
    assert "of 2 students" in selection_reason(results, "transductive", "hg2m", 0.2)
    assert teacher_warnings(results) == []


def test_paired_difference_over_seeds_with_a_t_interval():
    rows = [{"model": m, "method": m, "setting": "transductive", "seed": seed, "part": "test", "micro_f1": v}
            for seed, (a, b) in enumerate([(0.80, 0.82), (0.70, 0.73), (0.90, 0.91)]) for m, v in (("mlp", a), ("hg2m", b))]
    mean, half = paired_difference(pd.DataFrame(rows), "hg2m", "mlp", "transductive", "test")
    # differences 0.02, 0.03, 0.01: mean 0.02, sample std 0.01, t(2) = 4.303 -> 4.303 * 0.01 / sqrt(3) = 0.024843
    assert mean == pytest.approx(0.02) and half == pytest.approx(0.024843, rel=1e-4)
    assert mean_interval([0.5]) == (0.5, 0.0)
