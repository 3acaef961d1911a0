"""HIRE: node-level plus relation-level distillation from a heterogeneous teacher (methods.md, "HIRE").

Node level: KL(softmax(z_T / tau) || softmax(z_S / tau)) * tau^2 on target nodes.
Relation level: for a batch B of target nodes and each other node type t, the sampled type-t neighbours S_t,
C_t = row-softmax(cos(h_B, h_{S_t}) / tau_r); loss = sum_t KL(C_t^teacher || C_t^student).
The student's per-type encoders (HireEncoders) exist only for training; inference uses the MLP alone.
"""

from __future__ import annotations

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.models.inputs import SparseAwareLinear, gather_rows

# Guards the cosine against zero-norm embeddings (e.g. a ReLU output that is all zeros).
COSINE_EPS = 1e-8


def neighbour_types(graph: dgl.DGLGraph, target_type: str) -> dict[str, list[str]]:
    """Node type t != target -> sorted names of the etypes target -> t (one hop out of the target)."""
    etypes: dict[str, list[str]] = {}
    for src, etype, dst in graph.canonical_etypes:
        if src == target_type and dst != target_type:
            etypes.setdefault(dst, []).append(etype)
    # Sorted so that the sampling order (and hence the generator's draws) does not depend on DGL's order.
    return {t: sorted(names) for t, names in sorted(etypes.items())}


def sample_type_neighbours(
    graph: dgl.DGLGraph, target_type: str, batch: torch.Tensor, etypes: dict[str, list[str]],
    max_neighbours: int, generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Type t -> (S_t,) sorted unique type-t neighbours of the batch (B,), at most `max_neighbours` of them.

    Neighbours are the union of out-edge destinations over the etypes of t; when there are more than
    `max_neighbours`, a uniform subset without replacement is drawn with `generator` (deterministic per
    seed). Types where the batch has no neighbour are omitted.
    """
    sampled = {}
    for node_type, names in etypes.items():
        dsts = [graph.out_edges(batch, etype=(target_type, name, node_type))[1] for name in names]
        nbrs = torch.unique(torch.cat(dsts))
        if len(nbrs) == 0:
            continue
        if len(nbrs) > max_neighbours:
            keep = torch.randperm(len(nbrs), generator=generator)[:max_neighbours]
            nbrs = torch.sort(nbrs[keep.to(nbrs.device)]).values
        sampled[node_type] = nbrs
    return sampled


def pool_missing_types(
    graph: dgl.DGLGraph, target_type: str, embeddings: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Teacher embeddings for the neighbour types a teacher does not embed (HAN embeds only the target):
    each type-t node gets the mean embedding of its target neighbours (zeros without any), the way HG2M
    gives featureless types the mean of their target neighbours' features."""
    target = embeddings[target_type]
    completed = dict(embeddings)
    for node_type, names in neighbour_types(graph, target_type).items():
        if node_type in embeddings:
            continue
        total = target.new_zeros(graph.num_nodes(node_type), target.shape[1])
        count = target.new_zeros(graph.num_nodes(node_type))
        for name in names:
            src, dst = graph.edges(etype=(target_type, name, node_type))
            total.index_add_(0, dst, target[src])
            count.index_add_(0, dst, torch.ones_like(dst, dtype=target.dtype))
        completed[node_type] = total / count.clamp(min=1).unsqueeze(1)
    return completed


def log_relation_matrix(h_batch: torch.Tensor, h_nbrs: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, d), (S, d) -> (B, S) row-log-softmax of cosine similarity / tau (log form keeps the KL stable)."""
    cosine = F.normalize(h_batch, dim=-1, eps=COSINE_EPS) @ F.normalize(h_nbrs, dim=-1, eps=COSINE_EPS).t()
    return F.log_softmax(cosine / tau, dim=-1)


def relation_kd_loss(
    teacher_batch: torch.Tensor, teacher_nbrs: dict[str, torch.Tensor],
    student_batch: torch.Tensor, student_nbrs: dict[str, torch.Tensor], tau: float,
) -> torch.Tensor:
    """sum_t KL(C_t^teacher || C_t^student), each averaged over the B rows (batchmean).

    teacher_batch (B, d1), teacher_nbrs t -> (S_t, d1); student_batch (B, d2), student_nbrs t -> (S_t, d2):
    the widths may differ because each side compares only with itself. The teacher side is detached.
    Both dicts must have the same types (the caller drops types the student cannot encode).
    Returns a scalar; zero (student dtype/device) when there are no types.
    """
    if teacher_nbrs.keys() != student_nbrs.keys():
        raise ValueError(f"teacher types {sorted(teacher_nbrs)} != student types {sorted(student_nbrs)}")
    total = student_batch.new_zeros(())
    for node_type, h_teacher in teacher_nbrs.items():
        log_p = log_relation_matrix(teacher_batch.detach(), h_teacher.detach(), tau)
        log_q = log_relation_matrix(student_batch, student_nbrs[node_type], tau)
        total = total + F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    return total


class HireEncoders(nn.Module):
    """Per-node-type student encoders for HIRE's relation loss, used in training only.

    A type with features: SparseAwareLinear -> ReLU -> Linear on its feature rows. A type without features: a
    learned embedding of its node ids (as teachers embed featureless types), so graphs with no features on the
    target's neighbours still get a relation-level term.
    feature_dims: node type -> feature width; num_nodes: node type -> count, for the featureless types (the
    caller leaves out the target, whose embedding is the student MLP's).
    """

    def __init__(self, feature_dims: dict[str, int], out_dim: int, num_nodes: dict[str, int] | None = None):
        super().__init__()
        self.encoders = nn.ModuleDict({
            t: nn.Sequential(SparseAwareLinear(d, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
            for t, d in feature_dims.items()
        })
        featureless = {t: n for t, n in (num_nodes or {}).items() if t not in feature_dims}
        self.embeddings = nn.ModuleDict({t: nn.Embedding(n, out_dim) for t, n in featureless.items()})
        self.out_dim = out_dim

    def has(self, node_type: str) -> bool:
        return node_type in self.encoders or node_type in self.embeddings

    def forward(self, node_type: str, ids: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """(S,) ids of type `node_type` -> (S, out_dim) embeddings; `features`: node type -> (N_t, D_t) dense or
        sparse COO rows of the types with features."""
        if node_type in self.embeddings:
            return self.embeddings[node_type](ids.to(self.embeddings[node_type].weight.device))
        device = self.encoders[node_type][0].weight.device
        return self.encoders[node_type](gather_rows(features[node_type], ids).to(device))
