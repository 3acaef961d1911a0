import math

import pytest
import torch

from hg2m.distill.reliability import entropy_confidence, reliability_frame, reliable_mask


def test_entropy_and_confidence_hand_computed():
    # row 0: p = [0.75, 0.25] -> H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.562335; confidence 0.75
    # row 1: uniform over 2 -> H = ln 2; confidence 0.5
    entropy, confidence = entropy_confidence(torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]]))
    assert entropy.tolist() == pytest.approx([-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), math.log(2)])
    assert confidence.tolist() == pytest.approx([0.75, 0.5])


def three_class(p_max: float, p_second: float) -> list[float]:
    """Logits whose softmax is [p_max, p_second, rest]."""
    return [math.log(p_max), math.log(p_second), math.log(1 - p_max - p_second)]


def test_reliable_needs_low_entropy_and_high_confidence():
    # U = nodes 2..5, ratio 0.5 -> k = 2.
    # node 2: [0.90, 0.05, 0.05] H 0.394, conf 0.90   -> in both top-2 sets
    # node 3: [0.60, 0.40, 0.00+] H ~0.673, conf 0.60 -> low entropy (2nd) but not top-2 confidence
    # node 4: [0.70, 0.15, 0.15] H 0.819, conf 0.70   -> top-2 confidence but not low entropy
    # node 5: [0.34, 0.33, 0.33] H ~1.10, conf 0.34   -> neither
    logits = torch.tensor([
        [5.0, 0.0, 0.0],  # train node 0, predicts 0, label 0: reliable
        [5.0, 0.0, 0.0],  # train node 1, predicts 0, label 2: wrong -> not reliable
        three_class(0.90, 0.05), three_class(0.60, 0.3999), three_class(0.70, 0.15), three_class(0.34, 0.33),
        [9.0, 0.0, 0.0],  # node 6: in neither set (e.g. held out) -> never reliable
    ])
    labels = torch.tensor([0, 2, 0, 0, 0, 0, 0])
    entropy, confidence = entropy_confidence(logits)
    assert entropy[3] < entropy[4] and confidence[4] > confidence[3]  # the two sets really differ
    mask = reliable_mask(logits, labels, torch.tensor([0, 1]), torch.tensor([2, 3, 4, 5]), ratio=0.5)
    assert mask.tolist() == [True, False, True, False, False, False, False]


def test_ratio_one_keeps_every_unlabelled_node_and_zero_k_none():
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]])
    labels = torch.tensor([0, 1, 0])
    assert reliable_mask(logits, labels, torch.tensor([0]), torch.tensor([1, 2]), 1.0).tolist() == [True, True, True]
    assert reliable_mask(logits, labels, torch.tensor([0]), torch.tensor([1, 2]), 0.4).tolist() == [True, False, False]


def test_reliability_frame_columns():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    frame = reliability_frame(logits, torch.tensor([0, 1, 0]), torch.tensor([0]), torch.tensor([1]), 1.0)
    assert list(frame.columns) == ["id", "entropy", "confidence", "teacher_label", "reliable", "split_role"]
    assert frame["teacher_label"].tolist() == [0, 1, 0]
    assert frame["split_role"].tolist() == ["train", "unlabelled", "other"]
    assert frame["reliable"].tolist() == [True, True, False]
    assert str(frame["id"].dtype) == "int64" and frame["reliable"].dtype == bool
