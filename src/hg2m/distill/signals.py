"""Assemble what a student learns from in one run, from the pipeline's artifacts and the student's plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import dgl
import pandas as pd
import torch

from hg2m.contracts import RunSplit, TeacherRun
from hg2m.data.graph import HeteroGraphData, index_mask
from hg2m.distill.hire import pool_missing_types
from hg2m.distill.losses import MetaPathEdges
from hg2m.distill.metapaths import reliable_metapath_edges
from hg2m.inductive import observed_graph
from hg2m.labels import is_multi_label, log_probs
from hg2m.plan import StudentPlan


@dataclass
class TeacherSignals:
    """What a student may learn from in one run. Rows of unobserved nodes are never read.

    logits: (N, C) teacher logits; observed: (N,) bool; reliable: (N,) bool (HG2M+);
    metapath_edges: per meta-path of the plan (src, dst, weight) (HG2M+); embeddings: node type -> (N_t, d)
    teacher hidden states on the observed graph, and graph: that observed graph (HIRE).
    """

    observed: torch.Tensor
    logits: torch.Tensor | None = None
    reliable: torch.Tensor | None = None
    metapath_edges: list[MetaPathEdges] = field(default_factory=list)
    embeddings: dict[str, torch.Tensor] | None = None
    graph: dgl.DGLGraph | None = None


def metapath_edges(
    data: HeteroGraphData, inputs: torch.Tensor, pairs: pd.DataFrame, names: tuple[str, ...],
    teacher_logits: torch.Tensor, reliable: torch.Tensor, observed: torch.Tensor,
) -> list[MetaPathEdges]:
    """Reliable, weighted, directed meta-path edges per meta-path (HG2M+); pair similarity on the student's inputs."""
    train_mask = index_mask(data.splits["train"], data.num_target_nodes)
    probs = log_probs(teacher_logits, is_multi_label(data.labels)).exp()
    edges = []
    for name in names:
        kept = reliable_metapath_edges(pairs[pairs["metapath"] == name], inputs, probs, data.labels,
                                       train_mask, reliable, observed)
        edges.append((torch.tensor(kept["src"].to_numpy(), dtype=torch.int64),
                      torch.tensor(kept["dst"].to_numpy(), dtype=torch.int64),
                      torch.tensor(kept["weight"].to_numpy(), dtype=torch.float32)))
    return edges


def require(present: bool, plan: StudentPlan, what: str) -> None:
    """A signal the plan asks for must be there: never train silently without it."""
    if not present:
        raise ValueError(f"student {plan.name!r} ({plan.method}) needs {what}, which the pipeline did not pass")


def build_signals(
    data: HeteroGraphData, inputs: torch.Tensor, plan: StudentPlan, split: RunSplit, teacher: TeacherRun | None = None,
    reliable: torch.Tensor | None = None, pairs: pd.DataFrame | None = None,
) -> TeacherSignals:
    """Exactly what the plan says the student distils: soft labels, reliable nodes, meta-path edges, embeddings.
    `inputs` (N, D): the student's inputs, whose similarity is one of HG2M+'s pair features."""
    observed = split.observed()
    signals = TeacherSignals(observed=observed)
    if plan.soft_labels:
        require(teacher is not None, plan, "the teacher's soft labels")
        signals.logits = teacher.logits
    if plan.reliability:
        require(reliable is not None, plan, "reliability scores")
        signals.reliable = reliable & observed
    if plan.metapath_term:
        require(pairs is not None, plan, f"meta-path neighbour pairs ({', '.join(plan.metapaths)})")
        signals.metapath_edges = metapath_edges(data, inputs, pairs, plan.metapaths, teacher.logits, signals.reliable,
                                                observed)
    if plan.embeddings:
        require(teacher is not None and teacher.embeddings is not None, plan, "the teacher's embeddings")
        seen = observed_graph(data, split)
        signals.embeddings = pool_missing_types(seen.graph, data.target_type, teacher.embeddings)
        signals.graph = seen.graph
    return signals
