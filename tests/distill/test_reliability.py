import math

import pytest
import torch

from hg2m.distill.reliability import reliability_frame, reliable_mask
from hg2m.labels import entropy_confidence


def logits_of(probs: list[float]) -> list[float]:
    """Logits whose softmax is `probs` (a 0 becomes -inf)."""
    return [math.log(p) if p > 0 else -math.inf for p in probs]


def test_entropy_and_confidence_hand_computed():
    # row 0: p = [0.75, 0.25] -> H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.215762 + 0.346574 = 0.562335; conf 0.75
    # row 1: p = [0.5, 0.5]   -> H = ln 2 = 0.693147; conf 0.5
    entropy, confidence = entropy_confidence(torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]]), False)
    assert entropy.tolist() == pytest.approx([0.562335, 0.693147], abs=1e-5)
    assert confidence.tolist() == pytest.approx([0.75, 0.5])


def test_zero_probability_class_adds_no_entropy():
    # p = [0.6, 0.4, 0] -> H = -(0.6 ln 0.6 + 0.4 ln 0.4) = 0.306495 + 0.366516 = 0.673012 (0 ln 0 = 0, not nan)
    entropy, confidence = entropy_confidence(torch.tensor([logits_of([0.6, 0.4, 0.0])]), False)
    assert entropy.item() == pytest.approx(0.673012, abs=1e-5) and confidence.item() == pytest.approx(0.6)


def test_reliable_needs_low_entropy_and_high_confidence():
    # train = {0, 1}, U = {2, 3, 4, 5}, nodes 6 and 7 in neither set; ratio 0.5 -> k = floor(0.5 * 4) = 2
    #   node 2: [0.90, 0.05, 0.05] H = 0.9*0.105361 + 0.1*2.995732 = 0.394398, conf 0.90
    #   node 3: [0.60, 0.40, 0.00] H = 0.673012,                                conf 0.60
    #   node 4: [0.70, 0.15, 0.15] H = 0.7*0.356675 + 0.3*1.897120 = 0.818808, conf 0.70
    #   node 5: [0.40, 0.30, 0.30] H = 0.4*0.916291 + 0.6*1.203973 = 1.088900, conf 0.40
    # 2 smallest entropies: {2, 3}; 2 largest confidences: {2, 4}; AND -> {2} (OR would give {2, 3, 4})
    logits = torch.tensor([
        [5.0, 0.0, 0.0],  # train, predicts 0, label 0 -> reliable
        [5.0, 0.0, 0.0],  # train, predicts 0, label 2 -> wrong, not reliable
        logits_of([0.90, 0.05, 0.05]), logits_of([0.60, 0.40, 0.0]),
        logits_of([0.70, 0.15, 0.15]), logits_of([0.40, 0.30, 0.30]),
        [9.0, 0.0, 0.0],  # in neither set (a hidden inductive node): never reliable, however confident
        [9.0, 0.0, 0.0],
    ])
    labels = torch.tensor([0, 2, 0, 0, 0, 0, 0, 0])
    entropy, confidence = entropy_confidence(logits, False)
    assert entropy[2:6].tolist() == pytest.approx([0.394398, 0.673012, 0.818808, 1.088900], abs=1e-5)
    mask = reliable_mask(logits, labels, torch.tensor([0, 1]), torch.tensor([2, 3, 4, 5]), ratio=0.5)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [True, False, True, False, False, False, False, False]


def test_nodes_tied_at_the_threshold_are_all_kept():
    # three identical rows, k = floor(0.5 * 3) = 1: the thresholds are their shared entropy and confidence,
    # so all three pass; a rank cut would keep one of them, picked by the order of U
    logits = torch.tensor([[1.0, 0.0]] * 4)
    mask = reliable_mask(logits, torch.zeros(4, dtype=torch.long), torch.tensor([], dtype=torch.long),
                         torch.tensor([3, 1, 2]), ratio=0.5)
    assert mask.tolist() == [False, True, True, True]


def test_many_ties_at_confidence_one_are_kept_and_the_rest_are_cut():
    # 600 of 1000 unlabelled nodes at confidence 1.0 (saturated softmax), 400 spread below it; p = 0.5 -> k = 500:
    # the 500th smallest entropy is the saturated rows' shared one, so exactly those 600 nodes are reliable
    saturated = torch.tensor([[100.0, 0.0, 0.0]]).repeat(600, 1)
    spread = torch.stack([torch.linspace(0.5, 3.0, 400), torch.zeros(400), torch.zeros(400)], dim=1)
    logits = torch.cat([spread, saturated])
    entropy, confidence = entropy_confidence(logits, False)
    assert (confidence[400:] == 1.0).all() and (confidence[:400] < 1.0).all()
    assert (entropy[400:] == entropy[400]).all() and entropy[400] < entropy[:400].min()
    mask = reliable_mask(logits, torch.zeros(1000, dtype=torch.long), torch.tensor([], dtype=torch.long),
                         torch.arange(1000), ratio=0.5)
    assert mask[400:].all() and not mask[:400].any()


def test_ratio_one_keeps_every_unlabelled_node_and_zero_k_none():
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]])
    labels = torch.tensor([0, 1, 0])
    # ratio 1: k = 2 = |U|, both sets are all of U
    assert reliable_mask(logits, labels, torch.tensor([0]), torch.tensor([1, 2]), 1.0).tolist() == [True, True, True]
    # ratio 0.4: k = floor(0.8) = 0, only the correct train node
    assert reliable_mask(logits, labels, torch.tensor([0]), torch.tensor([1, 2]), 0.4).tolist() == [True, False, False]


def test_reliability_frame_columns():
    # node 0 train and right, node 1 the only unlabelled one (k = 1), node 2 in neither set
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    frame = reliability_frame(logits, torch.tensor([0, 1, 0]), torch.tensor([0]), torch.tensor([1]), 1.0)
    assert list(frame.columns) == ["id", "entropy", "confidence", "teacher_label", "reliable", "split_role"]
    dtypes = {c: str(t) for c, t in frame.dtypes.items()}
    assert dtypes == {"id": "int64", "entropy": "float64", "confidence": "float64", "teacher_label": "int64",
                      "reliable": "bool", "split_role": "string"}
    assert frame["id"].tolist() == [0, 1, 2]
    assert frame["teacher_label"].tolist() == [0, 1, 0]  # argmax; node 2's tie goes to class 0
    assert frame["split_role"].tolist() == ["train", "unlabelled", "other"]
    assert frame["reliable"].tolist() == [True, True, False]
    # node 2: uniform -> H = ln 2, confidence 0.5
    assert frame.loc[2, "entropy"] == pytest.approx(math.log(2)) and frame.loc[2, "confidence"] == pytest.approx(0.5)
