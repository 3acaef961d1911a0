"""Distillation losses. Teacher distribution on the left of the KL: KL(p_teacher || q_student)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """mean_v KL(softmax(z_T/tau) || softmax(z_S/tau)) * tau^2, over the rows given. Shapes (N, C)."""
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits / temperature, dim=-1)
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
    ce = F.cross_entropy(student_logits[train_idx], labels[train_idx])
    kd = kd_loss(student_logits[distill_idx], teacher_logits[distill_idx], temperature)
    return lambda_ce * ce + (1.0 - lambda_ce) * kd


def edge_kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
    weight: torch.Tensor, temperature: float = 1.0,
) -> torch.Tensor:
    """sum_e w_e KL(p_src(e) || q_dst(e)) * tau^2 over directed edges e (src's teacher supervises dst's student)."""
    log_p = F.log_softmax(teacher_logits[src] / temperature, dim=-1)
    log_q = F.log_softmax(student_logits[dst] / temperature, dim=-1)
    per_edge = (log_p.exp() * (log_p - log_q)).sum(-1)
    return (weight * per_edge).sum() * temperature**2


MetaPathEdges = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # src, dst, weight


def metapath_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, edges: list[MetaPathEdges],
    reliable_node_loss: torch.Tensor, num_nodes: int, temperature: float = 1.0,
) -> torch.Tensor:
    """HG2M+'s L_MP: mean over meta-paths P of (sum_{u->v in E_P} w KL(p_u||q_v) + N L_RN) / (|E_P| + N)."""
    if not edges:
        return reliable_node_loss
    terms = [
        (edge_kd_loss(student_logits, teacher_logits, src, dst, w, temperature) + num_nodes * reliable_node_loss)
        / (len(src) + num_nodes)
        for src, dst, w in edges
    ]
    return torch.stack(terms).mean()
