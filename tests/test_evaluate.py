import pytest

from hg2m.evaluate import classification_metrics, comparison_table, markdown_table


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


def test_comparison_table_one_row_per_model():
    rows = [
        {"model": m, "kind": k, "split": s, "accuracy": a, "macro_f1": a - 0.1, "micro_f1": a}
        for m, k, a in [("teacher", "teacher", 0.9), ("hg2m", "hg2m", 0.8)]
        for s in ("val", "test")
    ]
    table = comparison_table(rows)
    assert table["model"].tolist() == ["teacher", "hg2m"]
    assert list(table.columns[2:]) == [f"{s}_{m}" for s in ("val", "test") for m in ("accuracy", "macro_f1", "micro_f1")]
    assert table.loc[1, "test_macro_f1"] == pytest.approx(0.7)
    assert markdown_table(table).splitlines()[2].startswith("| teacher | teacher | 0.9000")
