import math

import pytest
import torch
import torch.nn.functional as F

from hg2m.distill.losses import edge_targets, hg2m_loss, hg2m_plus_loss, kd_loss, metapath_loss


def test_kd_loss_hand_computed():
    # teacher p = softmax([ln 3, 0]) = [0.75, 0.25]; student q = [0.5, 0.5]
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    student = torch.tensor([[0.0, 0.0]])
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # KL(p || q) = 0.130812...
    assert kd_loss(student, teacher).item() == pytest_approx(expected)
    assert kd_loss(teacher, teacher).item() == pytest_approx(0.0)


def test_kd_loss_averages_over_nodes_and_scales_with_temperature():
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    student = torch.zeros(2, 2)
    single = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kd_loss(student, teacher).item() == pytest_approx(single / 2)
    # tau = 2: p = softmax([ln 3 / 2, 0]) = [sqrt3/(sqrt3+1), 1/(sqrt3+1)], times tau^2 = 4
    p = torch.softmax(torch.tensor([math.log(3.0) / 2, 0.0]), 0)
    expected_tau2 = 4 * float((p * torch.log(p / 0.5)).sum()) / 2
    assert kd_loss(student, teacher, temperature=2.0).item() == pytest_approx(expected_tau2)


def test_hg2m_loss_mixes_ce_and_kd():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 3), torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 0, 1])
    train, every = torch.tensor([0, 1]), torch.arange(5)
    ce = F.cross_entropy(student[train], labels[train]).item()
    kd = kd_loss(student, teacher).item()
    assert hg2m_loss(student, teacher, labels, train, every, lambda_ce=1.0).item() == pytest_approx(ce)
    assert hg2m_loss(student, teacher, labels, train, every, lambda_ce=0.0).item() == pytest_approx(kd)
    assert hg2m_loss(student, teacher, labels, train, every, lambda_ce=0.3).item() == pytest_approx(0.3 * ce + 0.7 * kd)


def test_hg2m_plus_loss_is_reliable_node_kd_plus_gamma_times_the_metapath_term():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 2), torch.randn(4, 2)
    labels, train, reliable = torch.tensor([0, 1, 0, 1]), torch.tensor([0]), torch.tensor([0, 2])
    ce = F.cross_entropy(student[train], labels[train])
    l_rn = kd_loss(student[reliable], teacher[reliable])
    no_term = hg2m_plus_loss(student, teacher, labels, train, reliable, [], gamma=0.5, num_nodes=4, lambda_ce=0.2)
    assert no_term.item() == pytest_approx((0.2 * ce + 0.8 * l_rn).item())
    edges = [edge_targets(teacher, (torch.tensor([0]), torch.tensor([3]), torch.tensor([1.0])))]
    l_mp = metapath_loss(student, edges, l_rn, num_nodes=4)
    with_term = hg2m_plus_loss(student, teacher, labels, train, reliable, edges, gamma=0.5, num_nodes=4, lambda_ce=0.2)
    assert with_term.item() == pytest_approx((0.2 * ce + 0.8 * (l_rn + 0.5 * l_mp)).item())


def pytest_approx(value):
    return pytest.approx(value, rel=1e-5, abs=1e-7)


def direct_edge_kl(student, teacher, src, dst, weight):
    """The definition, edge by edge: sum_e w_e KL(p_src || q_dst)."""
    log_p, log_q = F.log_softmax(teacher, -1)[src], F.log_softmax(student, -1)[dst]
    return (weight * (log_p.exp() * (log_p - log_q)).sum(-1)).sum()


def test_edge_targets_hand_computed():
    # node 0's teacher p = [0.75, 0.25] supervises node 1's student q = [0.5, 0.5] with weight 2:
    # 2 KL = 2 (0.75 ln 1.5 + 0.25 ln 0.5)
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    student = torch.zeros(2, 2)
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    folded = edge_targets(teacher, (torch.tensor([0]), torch.tensor([1]), torch.tensor([2.0])))
    assert folded.targets.flatten().tolist() == pytest_approx([0.0, 0.0, 1.5, 0.5])
    l_rn = torch.tensor(0.0)
    # with L_RN = 0 and N = 2: L_MP = 2 kl / (1 + 2)
    assert metapath_loss(student, [folded], l_rn, num_nodes=2).item() == pytest_approx(2 * kl / 3)


def test_metapath_loss_formula():
    # L_MP(P) = (sum_e w KL + N L_RN) / (|E_P| + N); mean over meta-paths
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0], [0.0, 0.0]])
    student = torch.zeros(3, 2)
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    l_rn = torch.tensor(0.1)
    path_a = (torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([1.0, 0.5]))  # sum = 1.5 kl
    path_b = (torch.tensor([1]), torch.tensor([2]), torch.tensor([1.0]))  # uniform -> uniform: 0
    expected = ((1.5 * kl + 3 * 0.1) / (2 + 3) + (0 + 3 * 0.1) / (1 + 3)) / 2
    folded = [edge_targets(teacher, path_a), edge_targets(teacher, path_b)]
    assert metapath_loss(student, folded, l_rn, num_nodes=3).item() == pytest_approx(expected)
    with pytest.raises(ValueError, match="at least one meta-path"):  # never a silent fallback to L_RN
        metapath_loss(student, [], l_rn, num_nodes=3)


def test_folded_targets_equal_the_edge_by_edge_definition_with_gradients():
    torch.manual_seed(0)
    teacher, student = torch.randn(50, 4), torch.randn(50, 4, requires_grad=True)
    src, dst, weight = torch.randint(0, 50, (300,)), torch.randint(0, 50, (300,)), torch.rand(300)
    folded = edge_targets(teacher, (src, dst, weight), temperature=2.0)
    # temperature: both sides scale logits by 1/tau and the sum by tau^2
    direct = direct_edge_kl(student / 2.0, teacher / 2.0, src, dst, weight) * 4.0
    l_rn = torch.tensor(0.0)
    via_targets = metapath_loss(student, [folded], l_rn, num_nodes=50, temperature=2.0) * (300 + 50)
    torch.testing.assert_close(via_targets, direct)
    grad_direct = torch.autograd.grad(direct, student)[0]
    grad_folded = torch.autograd.grad(via_targets, student)[0]
    torch.testing.assert_close(grad_folded, grad_direct)


