"""Train an MLP student on the target type's features, with whatever its method distils from the teacher.

Losses (lambda = `lambda_ce`, see README, Method):
    mlp             CE(train)
    hg2m            lambda CE + (1 - lambda) KD(observed nodes)
    hg2m_plus       lambda CE + (1 - lambda) (L_RN + gamma L_MP)
    hire            lambda CE + (1 - lambda) KD(observed nodes)       + beta L_relation
    hg2m_plus_hire  lambda CE + (1 - lambda) (L_RN + gamma L_MP)      + beta L_relation
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.hire import HireEncoders, neighbour_types, relation_kd_loss, sample_type_neighbours
from hg2m.distill.losses import EdgeTargets, MetaPathEdges, edge_targets, kd_loss, metapath_loss
from hg2m.models.inputs import gather_rows
from hg2m.models.mlp import MLP
from hg2m.teacher import TrainedModel, split_metrics
from hg2m.train import EpochCallback, fit, seed_everything


@dataclass
class TeacherSignals:
    """What a student may learn from in one (setting, seed) run. Rows of unobserved nodes are never read.

    logits: (N, C) teacher logits; observed: (N,) bool; reliable: (N,) bool (HG2M+);
    metapath_edges: per meta-path (src, dst, weight) (HG2M+); embeddings: node type -> (N_t, d) teacher
    hidden states on the observed graph, and graph: that observed graph (HIRE).
    """

    observed: torch.Tensor
    logits: torch.Tensor | None = None
    reliable: torch.Tensor | None = None
    metapath_edges: list[MetaPathEdges] = field(default_factory=list)
    embeddings: dict[str, torch.Tensor] | None = None
    graph: dgl.DGLGraph | None = None


def build_student(config: StudentConfig, in_dim: int, num_classes: int) -> MLP:
    return MLP(in_dim, num_classes, config.hidden_dim, config.num_layers, config.dropout, config.norm)


def predict_logits(model: MLP, features: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Inference on features alone, in batches: (N, D) -> (N, C) on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(features[i : i + batch_size].to(device)).cpu() for i in range(0, len(features), batch_size)])


def check_signals(config: StudentConfig, signals: TeacherSignals) -> None:
    """Fail early, naming the student, when a method's inputs are missing."""
    needs = {
        "teacher logits": config.uses_teacher and signals.logits is None,
        "reliability scores": config.uses_reliability and signals.reliable is None,
        "teacher embeddings and graph": config.uses_relations and (signals.embeddings is None or signals.graph is None),
    }
    missing = [name for name, absent in needs.items() if absent]
    if missing:
        raise ValueError(f"student {config.name!r} ({config.method}) needs {', '.join(missing)}")


class RelationLoss:
    """HIRE's relation-level term on a fresh random batch of observed target nodes each call."""

    def __init__(self, data: HeteroGraphData, signals: TeacherSignals, config: StudentConfig, encoders: HireEncoders,
                 seed: int, device: torch.device):
        self.data, self.signals, self.config, self.encoders, self.device = data, signals, config, encoders, device
        self.etypes = {t: e for t, e in neighbour_types(signals.graph, data.target_type).items()
                       if encoders.has(t) and t in signals.embeddings}
        if not self.etypes:
            raise ValueError(f"student {config.name!r} ({config.method}): the relation-level term needs a node "
                             "type next to the target with features and teacher embeddings; this graph has none")
        self.candidates = torch.nonzero(signals.observed).squeeze(1)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, student: MLP, features: torch.Tensor) -> torch.Tensor:
        size = min(self.config.hire_batch_size, len(self.candidates))
        batch = self.candidates[torch.randperm(len(self.candidates), generator=self.generator)[:size]]
        neighbours = sample_type_neighbours(self.signals.graph, self.data.target_type, batch, self.etypes,
                                            self.config.hire_max_neighbours, self.generator)
        teacher = self.signals.embeddings
        student_nbrs = {t: self.encoders(t, gather_rows(self.data.features[t], ids).to(self.device))
                        for t, ids in neighbours.items()}
        return relation_kd_loss(
            teacher[self.data.target_type][batch].to(self.device), {t: teacher[t][ids].to(self.device) for t, ids in neighbours.items()},
            student.embed(features[batch.to(self.device)]), student_nbrs, self.config.hire_tau,
        )


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, config: StudentConfig, observed_idx: torch.Tensor,
                      reliable_idx: torch.Tensor | None, edges: list[EdgeTargets]) -> torch.Tensor:
    """The soft-label part: KD on observed nodes (hg2m, hire) or L_RN + gamma L_MP (hg2m_plus)."""
    tau = config.temperature
    if not config.uses_reliability:
        return kd_loss(logits[observed_idx], teacher[observed_idx], tau)
    node_idx = reliable_idx if config.reliable_nodes else observed_idx
    l_rn = kd_loss(logits[node_idx], teacher[node_idx], tau)
    if config.gamma == 0 or not edges:
        return l_rn
    return l_rn + config.gamma * metapath_loss(logits, edges, l_rn, len(observed_idx), tau)


def train_student(
    data: HeteroGraphData, signals: TeacherSignals, config: StudentConfig, seed: int, device: torch.device,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Fit the student; early stopping on validation accuracy. Returns the MLP alone (no encoders)."""
    check_signals(config, signals)
    seed_everything(seed)
    features = data.target_features().to(device)
    labels = data.labels.to(device)
    train_idx, val_idx = data.splits["train"].to(device), data.splits["val"].to(device)
    observed_idx = torch.nonzero(signals.observed).squeeze(1).to(device)
    reliable_idx = torch.nonzero(signals.reliable).squeeze(1).to(device) if signals.reliable is not None else None
    teacher = signals.logits.to(device) if signals.logits is not None else None
    edges = [edge_targets(teacher, (s.to(device), d.to(device), w.to(device)), config.temperature)
             for s, d, w in signals.metapath_edges] if teacher is not None else []
    student = build_student(config, features.shape[1], data.num_classes).to(device)
    trained: nn.Module = student
    relation = None
    if config.uses_relations:
        dims = {t: f.shape[1] for t, f in data.features.items() if t != data.target_type}
        encoders = HireEncoders(dims, config.hidden_dim).to(device)
        trained = nn.ModuleDict({"student": student, "encoders": encoders})  # encoders train, then are dropped
        relation = RelationLoss(data, signals, config, encoders, seed, device)

    def loss_fn() -> torch.Tensor:
        logits = student(features)
        ce = F.cross_entropy(logits[train_idx], labels[train_idx])
        if teacher is None:
            return ce
        loss = config.lambda_ce * ce + (1 - config.lambda_ce) * distillation_loss(
            logits, teacher, config, observed_idx, reliable_idx, edges)
        if relation is not None:
            loss = loss + config.hire_beta * relation(student, features)
        return loss

    def val_accuracy() -> float:
        return float((student(features[val_idx]).argmax(-1) == labels[val_idx]).float().mean())

    result = fit(trained, loss_fn, val_accuracy, config.optim, on_epoch)
    student.cpu()
    logits = predict_logits(student, data.target_features())
    return TrainedModel(model=student, logits=logits, fit=result, metrics=split_metrics(logits, data))
