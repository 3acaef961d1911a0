"""A student's loss as a sum of per-node shares, so that it trains full batch or in mini-batches of target nodes.

Every term of hg2m.distill.losses is a sum over target nodes divided by a count fixed before training (train nodes,
distilled nodes, reliable nodes, meta-path edges folded into per-node targets: EdgeTargets), so the share of a set of
nodes is its sum divided by the same counts. Over the batches of a partition of `nodes` the shares add up to the
full-batch loss (hg2m_loss, hg2m_plus_loss), and so do their gradients: a mini-batch epoch follows the full-batch
gradient, one step per batch. Meta-path edges are batched by their student endpoint, where their folded target sits.
"""

from __future__ import annotations

import torch

from hg2m.data.graph import index_mask
from hg2m.distill.losses import EdgeTargets, kd_loss
from hg2m.labels import is_multi_label, log_probs, supervised_loss


class StudentObjective:
    """lambda CE(train) + (1 - lambda) [KD(distilled) | L_RN(reliable) + gamma L_MP], as shares of node sets.

    teacher_logits None: CE alone (the plain MLP). edge_sets empty: no meta-path term (HG2M's KD on `distill_idx`);
    otherwise HG2M+ with `distill_idx` the reliable nodes and `num_observed` the N of L_MP."""

    def __init__(self, labels: torch.Tensor, train_idx: torch.Tensor, lambda_ce: float,
                 teacher_logits: torch.Tensor | None = None, distill_idx: torch.Tensor | None = None,
                 edge_sets: list[EdgeTargets] | None = None, gamma: float = 0.0, num_observed: int = 0,
                 temperature: float = 1.0):
        num_nodes = len(labels)
        self.labels, self.teacher, self.tau = labels, teacher_logits, temperature
        self.multi_label = is_multi_label(labels)
        self.ce_weight = 1.0 if teacher_logits is None else lambda_ce
        self.is_train, self.num_train = index_mask(train_idx, num_nodes), len(train_idx)
        self.edge_sets, self.gamma, self.num_observed = edge_sets or [], gamma, num_observed
        loss_nodes = [train_idx]
        if teacher_logits is not None:
            self.is_distilled, self.num_distilled = index_mask(distill_idx, num_nodes), len(distill_idx)
            loss_nodes.append(distill_idx)
            loss_nodes += [torch.nonzero(e.targets.flatten(1).sum(1)).squeeze(1) for e in self.edge_sets]
        self.nodes = torch.unique(torch.cat(loss_nodes))  # every node with a share: what mini-batches cover
        self.is_node = index_mask(self.nodes, num_nodes)

    def share(self, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The part of the full loss owed to the nodes `rows`, given their (len(rows), C) student logits."""
        loss = self.ce_weight * self.part(supervised_loss, logits, rows, self.is_train, self.num_train, self.labels)
        if self.teacher is None:
            return loss
        kd = self.part(self.kd, logits, rows, self.is_distilled, self.num_distilled, self.teacher)
        soft = kd + self.gamma * self.metapath_share(logits, rows, kd) if self.edge_sets else kd
        return loss + (1.0 - self.ce_weight) * soft

    def kd(self, logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, teacher, self.tau, self.multi_label)

    @staticmethod
    def part(loss_fn, logits: torch.Tensor, rows: torch.Tensor, member: torch.Tensor, count: int,
             targets: torch.Tensor) -> torch.Tensor:
        """`loss_fn` (a mean over its rows) on the rows that are members, as a share of the mean over all `count`."""
        keep = member[rows]
        if not keep.any():
            return logits.sum() * 0.0  # keeps the graph (and the device) for a batch without such nodes
        return loss_fn(logits[keep], targets[rows[keep]]) * (int(keep.sum()) / count)

    def metapath_share(self, logits: torch.Tensor, rows: torch.Tensor, l_rn_share: torch.Tensor) -> torch.Tensor:
        """L_MP's share (hg2m.distill.losses.metapath_loss): each meta-path's constant is split by node count."""
        log_q = log_probs(logits, self.multi_label, self.tau)
        fraction = int(self.is_node[rows].sum()) / len(self.nodes)
        terms = [((e.constant * fraction - (e.targets[rows] * log_q).sum()) * self.tau**2
                  + self.num_observed * l_rn_share) / (e.num_edges + self.num_observed) for e in self.edge_sets]
        return torch.stack(terms).mean()
