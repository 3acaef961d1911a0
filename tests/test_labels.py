"""Multi-label targets: label sets as bitmasks, the per-class two-way distributions every loss and score reads."""

import math

import numpy as np
import pytest
import torch

from hg2m.distill.losses import edge_targets, hg2m_loss, kd_loss, metapath_loss
from hg2m.distill.reliability import reliable_mask
from hg2m.evaluate import classification_metrics
from hg2m.labels import (
    agreement,
    bitmasks,
    correct,
    decode_bitmasks,
    encode_sets,
    entropy_confidence,
    log_probs,
    micro_f1,
    same_label,
)
from hg2m.serving import predictions_frame


def bernoulli_kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_label_sets_round_trip_through_bitmasks_and_unknown_is_empty():
    codes = encode_sets([[0, 2], [1], [], [2, 0, 2]])
    assert codes.tolist() == [5, 2, 0, 5]
    decoded = decode_bitmasks(np.r_[codes, -1], 3)
    assert decoded.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0]]
    assert bitmasks(decoded[:4]).tolist() == codes.tolist()


def test_multi_label_kd_is_the_sum_of_the_classes_two_way_kls():
    student, teacher = torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([[1.0, 1.0], [-1.0, 0.5]])
    expected = sum(bernoulli_kl(sigmoid(t), sigmoid(s)) for row_s, row_t in zip(student.tolist(), teacher.tolist())
                   for s, t in zip(row_s, row_t)) / 2
    assert kd_loss(student, teacher, multi_label=True).item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss(teacher, teacher, multi_label=True).item() == pytest.approx(0.0, abs=1e-6)
    at_two = sum(bernoulli_kl(sigmoid(t / 2), sigmoid(s / 2)) for row_s, row_t in zip(student.tolist(), teacher.tolist())
                 for s, t in zip(row_s, row_t)) / 2 * 4
    assert kd_loss(student, teacher, 2.0, multi_label=True).item() == pytest.approx(at_two, rel=1e-5)


def test_hg2m_loss_reads_the_label_kind_from_the_labels():
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    train, every = torch.tensor([0, 1]), torch.arange(4)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(student[train], labels[train])
    kd = kd_loss(student, teacher, multi_label=True)
    mixed = hg2m_loss(student, teacher, labels, train, every, lambda_ce=0.3)
    assert mixed.item() == pytest.approx(0.3 * bce.item() + 0.7 * kd.item(), rel=1e-5)


def test_multi_label_metapath_targets_equal_the_sum_over_edges():
    """The folded targets are exact for (N, C, 2) distributions as for (N, C) ones."""
    generator = torch.Generator().manual_seed(0)
    teacher, student = torch.randn(20, 4, generator=generator), torch.randn(20, 4, generator=generator)
    src, dst = torch.randint(0, 20, (60,), generator=generator), torch.randint(0, 20, (60,), generator=generator)
    weight = torch.rand(60, generator=generator)
    l_rn = torch.tensor(0.0)
    folded = metapath_loss(student, [edge_targets(teacher, (src, dst, weight), 2.0, True)], l_rn, num_nodes=20,
                           temperature=2.0, multi_label=True)
    log_p, log_q = log_probs(teacher, True, 2.0)[src], log_probs(student, True, 2.0)[dst]
    per_edge = (log_p.exp() * (log_p - log_q)).sum((1, 2))
    assert folded.item() == pytest.approx((weight * per_edge).sum().item() * 4 / (60 + 20), rel=1e-4)


def test_multi_label_entropy_and_confidence_are_of_the_independent_classes():
    # class 0: p = 0.75 (present), class 1: p = 0.5
    entropy, confidence = entropy_confidence(torch.tensor([[math.log(3.0), 0.0]]), True)
    binary = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy.item() == pytest.approx(binary + math.log(2), rel=1e-5)
    assert confidence.item() == pytest.approx(0.75 * 0.5, rel=1e-5)


def test_multi_label_scores_are_hgbs_micro_and_macro_f1():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    # class 0: tp 2 -> F1 1; class 1: tp 1, fn 1 -> 2/3; class 2: fp 1, fn 1 -> 0; micro: 2 * 3 / (4 + 5)
    scores = classification_metrics(truth, predicted, 3)
    assert scores["micro_f1"] == pytest.approx(6 / 9)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert scores["accuracy"] == pytest.approx(1 / 3)  # the whole set right
    logits = torch.tensor(np.where(predicted == 1, 2.0, -2.0))
    assert micro_f1(logits, torch.tensor(truth, dtype=torch.float32)) == pytest.approx(6 / 9)
    assert correct(logits, torch.tensor(truth, dtype=torch.float32)).tolist() == [False, True, False]


def test_a_multi_label_train_node_is_reliable_only_with_its_whole_set_right():
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    logits = torch.tensor([[3.0, -3.0], [3.0, -3.0], [4.0, -4.0], [0.1, 0.1]])
    mask = reliable_mask(logits, labels, torch.tensor([0, 1]), torch.tensor([2, 3]), ratio=0.5)
    assert mask.tolist() == [True, False, True, False]


def test_same_label_and_agreement_compare_whole_sets():
    labels = np.array([[1, 0], [1, 0], [1, 1]])
    assert same_label(labels, np.array([0, 0]), np.array([1, 2])).tolist() == [True, False]
    assert same_label(np.array([2, 2, 0]), np.array([0, 0]), np.array([1, 2])).tolist() == [True, False]
    probs = log_probs(torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]]), True).exp()
    # same set: both classes agree; class 0: .75*.5+.25*.5, class 1: .5*.75+.5*.25
    assert agreement(probs[:1], probs[1:]).item() == pytest.approx(0.5 * 0.5)


def test_served_multi_label_predictions_are_bitmasks_with_their_class_names():
    frame = predictions_frame(torch.tensor([[2.0, -1.0, 3.0], [-1.0, -1.0, -1.0]]), ["a", "b", "c"], True)
    assert frame["prediction"].tolist() == [5, 0]
    assert frame["class_name"].tolist() == ["a,c", ""]
    assert frame["prob_0"].iloc[0] == pytest.approx(sigmoid(2.0))
