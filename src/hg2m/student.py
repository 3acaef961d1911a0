"""Train an MLP student on its inputs (the target node's own features, maybe with one-hop neighbour inputs:
hg2m.student_inputs), with whatever its method distils from the teacher.

Losses (lambda = `lambda_ce`, see README, Method):
    mlp             CE(train)
    hg2m            lambda CE + (1 - lambda) KD(observed nodes)
    hg2m_plus       lambda CE + (1 - lambda) (L_RN + gamma L_MP)
    hire            lambda CE + (1 - lambda) KD(observed nodes)       + beta L_relation
    hg2m_plus_hire  lambda CE + (1 - lambda) (L_RN + gamma L_MP)      + beta L_relation
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hg2m.config import StudentConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distill.hire import HireEncoders, neighbour_types, relation_kd_loss, sample_type_neighbours
from hg2m.distill.losses import edge_targets
from hg2m.distill.objective import StudentObjective
from hg2m.distill.signals import TeacherSignals
from hg2m.evaluate import split_metrics
from hg2m.inductive import model_selection_nodes
from hg2m.labels import is_multi_label, validation
from hg2m.models.inputs import gather_rows
from hg2m.models.mlp import MLP, PreparedInputs, StudentInputs, run_mlp
from hg2m.plan import StudentPlan
from hg2m.train import EpochCallback, FitResult, TrainedModel, fit, seed_everything

AUTO_BATCH_SIZE = 65_536  # target nodes per step when a student's loss covers more than full_batch_max_nodes


def build_student(config: StudentConfig, in_dim: int, num_classes: int) -> MLP:
    return MLP(in_dim, num_classes, config.hidden_dim, config.num_layers, config.dropout, config.norm)


def prepared(inputs: torch.Tensor, model: MLP) -> StudentInputs:
    """The inputs as `model` trains and predicts on them: dense columns split from sparse ones (PreparedInputs);
    plain for a one-layer MLP, which has no hidden layer for HIRE to embed with."""
    return PreparedInputs.of(inputs) if len(model.body) else inputs


def rows_of(inputs: StudentInputs, idx: torch.Tensor) -> StudentInputs:
    return inputs.rows(idx) if isinstance(inputs, PreparedInputs) else gather_rows(inputs, idx)


def predict_logits(model: MLP, inputs: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Inference on the student's inputs alone (no graph), in batches: (N, D) dense or sparse -> (N, C) on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    inputs = prepared(inputs, model)
    rows = torch.arange(inputs.shape[0])
    with torch.no_grad():
        return torch.cat([run_mlp(model, rows_of(inputs, rows[i : i + batch_size]).to(device)).cpu()
                          for i in range(0, len(rows), batch_size)])


class RelationLoss:
    """HIRE's relation-level term on a fresh random batch of observed target nodes each call."""

    def __init__(self, data: HeteroGraphData, signals: TeacherSignals, config: StudentConfig, encoders: HireEncoders,
                 seed: int, device: torch.device):
        self.data, self.signals, self.config, self.encoders, self.device = data, signals, config, encoders, device
        self.etypes = {t: e for t, e in neighbour_types(signals.graph, data.target_type).items()
                       if encoders.has(t) and t in signals.embeddings}
        if not self.etypes:
            raise ValueError(f"student {config.name!r} ({config.method}): the relation-level term needs a node "
                             "type next to the target with teacher embeddings; this graph has none")
        self.candidates = torch.nonzero(signals.observed).squeeze(1)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, student: MLP, features: StudentInputs) -> torch.Tensor:
        size = min(self.config.hire_batch_size, len(self.candidates))
        batch = self.candidates[torch.randperm(len(self.candidates), generator=self.generator)[:size]]
        neighbours = sample_type_neighbours(self.signals.graph, self.data.target_type, batch, self.etypes,
                                            self.config.hire_max_neighbours, self.generator)
        teacher = self.signals.embeddings
        student_nbrs = {t: self.encoders(t, ids, self.data.features) for t, ids in neighbours.items()}
        return relation_kd_loss(
            teacher[self.data.target_type][batch].to(self.device), {t: teacher[t][ids].to(self.device) for t, ids in neighbours.items()},
            run_mlp(student, rows_of(features, batch), embed=True), student_nbrs, self.config.hire_tau,
        )


def train_student(
    data: HeteroGraphData, inputs: torch.Tensor, signals: TeacherSignals, plan: StudentPlan, seed: int,
    device: torch.device, on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Fit the student on its (N, D) inputs (dense or sparse: hg2m.student_inputs); model selection on the
    accuracy of hg2m.inductive.model_selection_nodes (the held-out validation nodes in the inductive setting).
    Returns the MLP alone (no encoders), with its logits on every target node."""
    student, result = fit_student(data, inputs, signals, plan, seed, device, on_epoch)
    return scored(student, result, inputs, data)


def scored(student: MLP, result: FitResult, inputs: torch.Tensor, data: HeteroGraphData) -> TrainedModel:
    student.cpu()
    logits = predict_logits(student, inputs)
    return TrainedModel(model=student, logits=logits, fit=result, metrics=split_metrics(logits, data))


class StudentLoss(nn.Module):
    """The student's loss on a set of target nodes, as one forward of one module: DDP can wrap it, and its
    parameters are the student's and, for HIRE, its neighbour encoders' (trained, then dropped)."""

    def __init__(self, student: MLP, features: StudentInputs, objective: StudentObjective,
                 relation: RelationLoss | None, hire_beta: float):
        super().__init__()
        self.student = student
        self.encoders = relation.encoders if relation else None
        self.features, self.objective, self.relation, self.hire_beta = features, objective, relation, hire_beta
        self.every_row = torch.arange(len(objective.labels), device=objective.labels.device)

    def forward(self, rows: torch.Tensor | None, share_weight: float = 1.0, relation_weight: float = 1.0,
                ) -> torch.Tensor:
        """The share of `rows` (None: every node, from the inputs as they are rather than a copy of their rows)."""
        if rows is None:
            logits, rows = run_mlp(self.student, self.features), self.every_row
        else:
            logits = run_mlp(self.student, rows_of(self.features, rows))
        loss = share_weight * self.objective.share(logits, rows)
        if self.relation:  # HIRE's relation term samples its own batch of nodes
            loss = loss + relation_weight * self.hire_beta * self.relation(self.student, self.features)
        return loss


def fit_student(
    data: HeteroGraphData, inputs: torch.Tensor, signals: TeacherSignals, plan: StudentPlan, seed: int,
    device: torch.device, on_epoch: EpochCallback | None = None,
) -> tuple[MLP, FitResult]:
    """train_student's training. Inside a torch.distributed process group (hg2m.distributed.students) this process
    is one of the group's data-parallel ranks: it takes its slice of every batch, and DDP adds up the ranks'
    gradients, so that every rank makes the updates one process would."""
    config = plan.config
    seed_everything(seed)
    student = build_student(config, inputs.shape[1], data.num_classes).to(device)
    features = prepared(inputs, student).to(device)
    labels = data.labels.to(device)
    train_idx = data.splits["train"].to(device)
    val_idx = model_selection_nodes(data, signals.observed).to(device)
    observed_idx = torch.nonzero(signals.observed).squeeze(1).to(device)
    relation = None
    if plan.embeddings:
        others = [t for t in data.graph.ntypes if t != data.target_type]
        dims = {t: data.features[t].shape[1] for t in others if t in data.features}
        encoders = HireEncoders(dims, config.hidden_dim, {t: data.graph.num_nodes(t) for t in others}).to(device)
        relation = RelationLoss(data, signals, config, encoders, seed, device)
    objective = student_objective(signals, plan, labels, train_idx, observed_idx, device)
    loss = StudentLoss(student, features, objective, relation, config.hire_beta)
    rank, ranks = data_parallel_rank()
    trained = DistributedDataParallel(loss, find_unused_parameters=True) if ranks > 1 else loss
    batch_size = batch_size_for(config, len(objective.nodes))
    order = torch.Generator().manual_seed(seed)  # the same on every rank: the ranks split the same batches

    def batch_losses() -> Iterator[torch.Tensor]:
        """One optimiser step per batch of the nodes with a share of the loss, in a fresh order each epoch (or
        one step on every node: full batch)."""
        if batch_size is None:
            batches = [None] if ranks == 1 else [loss.every_row]
        else:
            batches = objective.nodes[torch.randperm(len(objective.nodes), generator=order).to(device)].split(batch_size)
        for rows in batches:
            # DDP averages the ranks' gradients: scaling each rank's share by the number of ranks adds them up. The
            # relation term is one sample per rank (spread over the epoch's steps), so it is averaged.
            mine = None if rows is None else rows.tensor_split(ranks)[rank]
            yield trained(mine, share_weight=ranks, relation_weight=1 / len(batches))

    def val_score() -> float | tuple[float, float]:
        return validation(run_mlp(student, rows_of(features, val_idx)), labels[val_idx])

    return student, fit(trained, batch_losses, val_score, config.optim, on_epoch)


def data_parallel_rank() -> tuple[int, int]:
    """(this process's rank, the number of ranks): (0, 1) outside a torch.distributed process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def batch_size_for(config: StudentConfig, loss_nodes: int) -> int | None:
    """Target nodes per step: the config's, or AUTO_BATCH_SIZE past `full_batch_max_nodes`; None: full batch."""
    if config.batch_size is not None:
        return config.batch_size
    return AUTO_BATCH_SIZE if loss_nodes > config.full_batch_max_nodes else None


def student_objective(
    signals: TeacherSignals, plan: StudentPlan, labels: torch.Tensor, train_idx: torch.Tensor,
    observed_idx: torch.Tensor, device: torch.device,
) -> StudentObjective:
    """lambda CE + (1 - lambda) times the method's soft-label term (see module doc); CE alone for the plain MLP."""
    config = plan.config
    if not plan.soft_labels:
        return StudentObjective(labels, train_idx, config.lambda_ce)
    teacher = signals.logits.to(device)
    if not plan.reliability:
        return StudentObjective(labels, train_idx, config.lambda_ce, teacher, observed_idx,
                                temperature=config.temperature)
    node_idx = torch.nonzero(signals.reliable).squeeze(1).to(device) if config.reliable_nodes else observed_idx
    edges = [edge_targets(teacher, (s.to(device), d.to(device), w.to(device)), config.temperature,
                          is_multi_label(labels)) for s, d, w in signals.metapath_edges]
    return StudentObjective(labels, train_idx, config.lambda_ce, teacher, node_idx, edges, config.gamma,
                            len(observed_idx), config.temperature)
