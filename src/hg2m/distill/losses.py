"""Distillation losses. Teacher distribution on the left of the KL: KL(p_teacher || q_student).

Every distribution comes from hg2m.labels.log_probs, so a multi-label target distils each class's two-way
distribution (the KLs summed over classes) with the same code."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hg2m.labels import is_multi_label, log_probs, supervised_loss


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
            multi_label: bool = False) -> torch.Tensor:
    """mean_v KL(softmax(z_T/tau) || softmax(z_S/tau)) * tau^2, over the rows given. Shapes (N, C).
    Multi-label: the sum over classes of KL(sigmoid(z_T/tau) || sigmoid(z_S/tau)) per row."""
    log_q = log_probs(student_logits, multi_label, temperature)
    log_p = log_probs(teacher_logits, multi_label, temperature)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True) * temperature**2


def hg2m_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    distill_idx: torch.Tensor,
    lambda_ce: float,
    temperature: float = 1.0,
) -> torch.Tensor:
    """HG2M (= GLNN objective): lambda * CE on labelled nodes + (1 - lambda) * KD on the distilled nodes."""
    ce = supervised_loss(student_logits[train_idx], labels[train_idx])
    kd = kd_loss(student_logits[distill_idx], teacher_logits[distill_idx], temperature, is_multi_label(labels))
    return lambda_ce * ce + (1.0 - lambda_ce) * kd


def hg2m_plus_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    node_idx: torch.Tensor,
    edge_sets: list[EdgeTargets],
    gamma: float,
    num_nodes: int,
    lambda_ce: float,
    temperature: float = 1.0,
) -> torch.Tensor:
    """HG2M+: lambda * CE + (1 - lambda) * (L_RN + gamma * L_MP), L_RN = KD on `node_idx` (the reliable nodes).

    `edge_sets` holds one EdgeTargets per meta-path of the L_MP term; none means the term is off.
    `num_nodes` is N of L_MP (the observed target nodes)."""
    multi_label = is_multi_label(labels)
    ce = supervised_loss(student_logits[train_idx], labels[train_idx])
    l_rn = kd_loss(student_logits[node_idx], teacher_logits[node_idx], temperature, multi_label)
    soft = l_rn
    if edge_sets:
        soft = l_rn + gamma * metapath_loss(student_logits, edge_sets, l_rn, num_nodes, temperature, multi_label)
    return lambda_ce * ce + (1.0 - lambda_ce) * soft


MetaPathEdges = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # src, dst, weight


@dataclass(frozen=True)
class EdgeTargets:
    """One meta-path's edges folded into per-node targets, exact because the teacher is fixed:

    sum_e w_e KL(p_src(e) || q_dst(e)) = constant - sum_v <targets_v, log q_v>,
    targets_v = sum_{e: dst(e) = v} w_e p_src(e)  (N, C), or (N, C, 2) multi-label;
    constant = sum_e w_e sum p log p.
    Each epoch then costs O(N C) instead of O(E C) gathers and scatters.
    """

    targets: torch.Tensor
    constant: torch.Tensor
    num_edges: int


def edge_targets(teacher_logits: torch.Tensor, edges: MetaPathEdges, temperature: float = 1.0,
                 multi_label: bool = False) -> EdgeTargets:
    src, dst, weight = edges
    log_all = log_probs(teacher_logits, multi_label, temperature)
    log_p = log_all[src]
    weighted = weight.view(-1, *[1] * (log_p.dim() - 1)) * log_p.exp()
    targets = torch.zeros_like(log_all).index_add_(0, dst, weighted)
    return EdgeTargets(targets=targets, constant=(weighted * log_p).sum(), num_edges=len(src))


def metapath_loss(
    student_logits: torch.Tensor, edge_sets: list[EdgeTargets], reliable_node_loss: torch.Tensor, num_nodes: int,
    temperature: float = 1.0, multi_label: bool = False,
) -> torch.Tensor:
    """HG2M+'s L_MP: mean over meta-paths P of (sum_{u->v in E_P} w KL(p_u||q_v) + N L_RN) / (|E_P| + N)."""
    if not edge_sets:
        raise ValueError("the meta-path term needs at least one meta-path's edges")
    log_q = log_probs(student_logits, multi_label, temperature)
    terms = [
        ((e.constant - (e.targets * log_q).sum()) * temperature**2 + num_nodes * reliable_node_loss)
        / (e.num_edges + num_nodes)
        for e in edge_sets
    ]
    return torch.stack(terms).mean()
