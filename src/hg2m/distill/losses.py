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
