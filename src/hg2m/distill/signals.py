"""Assemble what a student learns from in one (setting, seed) run, from the pipeline's artifacts."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.hire import pool_missing_types
from hg2m.distill.losses import MetaPathEdges
from hg2m.distill.metapaths import reliable_metapath_edges
from hg2m.inductive import observed_graph, observed_mask
from hg2m.student import TeacherSignals


def run_key(setting: str, seed: int) -> str:
    return f"{setting}_s{seed}"


def metapath_edges(
    data: HeteroGraphData, pairs: pd.DataFrame, names: list[str], teacher_logits: torch.Tensor,
    reliable: torch.Tensor, observed: torch.Tensor,
) -> list[MetaPathEdges]:
    """Reliable, weighted, directed meta-path edges per meta-path (HG2M+)."""
    train_mask = torch.zeros(data.num_target_nodes, dtype=torch.bool)
    train_mask[data.splits["train"]] = True
    probs = torch.softmax(teacher_logits, dim=-1)
    edges = []
    for name in names:
        kept = reliable_metapath_edges(pairs[pairs["metapath"] == name], data.target_features(), probs, data.labels,
                                       train_mask, reliable, observed)
        edges.append((torch.tensor(kept["src"].to_numpy(), dtype=torch.int64),
                      torch.tensor(kept["dst"].to_numpy(), dtype=torch.int64),
                      torch.tensor(kept["weight"].to_numpy(), dtype=torch.float32)))
    return edges


def build_signals(
    data: HeteroGraphData, config: StudentConfig, hidden: torch.Tensor, all_metapaths: list[str],
    teacher_logits: torch.Tensor | None = None, reliable: torch.Tensor | None = None,
    teacher_model: nn.Module | None = None, pairs: pd.DataFrame | None = None,
) -> TeacherSignals:
    """Only what the method needs: soft labels, reliable nodes, meta-path edges, teacher embeddings."""
    from hg2m.teacher import infer

    observed = observed_mask(data.num_target_nodes, hidden)
    signals = TeacherSignals(observed=observed, logits=teacher_logits if config.uses_teacher else None)
    if config.uses_reliability:
        signals.reliable = reliable & observed
        if config.gamma > 0 and pairs is not None:
            names = config.metapaths or all_metapaths
            signals.metapath_edges = metapath_edges(data, pairs, names, teacher_logits, signals.reliable, observed)
    if config.uses_relations:
        seen = observed_graph(data, hidden)
        signals.embeddings = pool_missing_types(seen.graph, data.target_type, infer(teacher_model, seen).embeddings)
        signals.graph = seen.graph
    return signals
