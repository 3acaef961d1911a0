"""Students' loss as per-node shares: on the whole node set it is the full-batch loss (hg2m_loss, hg2m_plus_loss), and
an epoch of mini-batches accumulates exactly the full-batch gradient."""

import pytest
import torch

from hg2m.distill.losses import edge_targets, hg2m_loss, hg2m_plus_loss
from hg2m.distill.objective import StudentObjective
from hg2m.labels import supervised_loss
from hg2m.models.mlp import MLP

N, C = 14, 3  # a small graph's target nodes
TRAIN, RELIABLE, OBSERVED = torch.tensor([0, 3, 5]), torch.tensor([0, 1, 2, 6, 9]), torch.arange(12)  # 12, 13 held out
META_PATHS = [(torch.tensor([0, 1, 2, 6]), torch.tensor([4, 4, 7, 8]), torch.tensor([1.0, 0.5, 2.0, 1.0])),
              (torch.tensor([9, 1]), torch.tensor([10, 11]), torch.tensor([1.0, 3.0]))]


def labels_of(multi_label: bool) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if multi_label:
        return (torch.rand(N, C, generator=generator) > 0.5).float()
    return torch.randint(0, C, (N,), generator=generator)


def objectives(labels: torch.Tensor, teacher: torch.Tensor) -> dict[str, tuple[StudentObjective, object]]:
    """Each method's objective and its full-batch reference loss (of the student's logits)."""
    edges = [edge_targets(teacher, path, 2.0, labels.dim() == 2) for path in META_PATHS]
    n = len(OBSERVED)
    return {
        "mlp": (StudentObjective(labels, TRAIN, 0.3), lambda z: supervised_loss(z[TRAIN], labels[TRAIN])),
        "hg2m": (StudentObjective(labels, TRAIN, 0.3, teacher, OBSERVED, temperature=2.0),
                 lambda z: hg2m_loss(z, teacher, labels, TRAIN, OBSERVED, 0.3, 2.0)),
        "hg2m_plus": (StudentObjective(labels, TRAIN, 0.3, teacher, RELIABLE, edges, 0.5, n, 2.0),
                      lambda z: hg2m_plus_loss(z, teacher, labels, TRAIN, RELIABLE, edges, 0.5, n, 0.3, 2.0)),
    }


@pytest.mark.parametrize("multi_label", [False, True], ids=["single-label", "multi-label"])
@pytest.mark.parametrize("method", ["mlp", "hg2m", "hg2m_plus"])
def test_an_epoch_of_mini_batches_accumulates_the_full_batch_loss_and_gradient(method, multi_label):
    torch.manual_seed(0)
    labels, teacher, inputs = labels_of(multi_label), torch.randn(N, C), torch.randn(N, 5)
    objective, reference = objectives(labels, teacher)[method]
    student = MLP(5, C, 8, 2, dropout=0.0, norm="layer")  # row-wise layers: a row's logits do not depend on its batch
    full = objective.share(student(inputs), torch.arange(N))
    assert full.item() == pytest.approx(reference(student(inputs)).item(), rel=1e-5)
    full.backward()
    full_grads = [p.grad.clone() for p in student.parameters()]
    student.zero_grad()

    batches = objective.nodes[torch.randperm(len(objective.nodes))].split(4)
    total = sum(objective.share(student(inputs[rows]), rows) for rows in batches)
    total.backward()
    assert total.item() == pytest.approx(full.item(), rel=1e-5)
    for batched, whole in zip((p.grad for p in student.parameters()), full_grads):
        assert torch.allclose(batched, whole, atol=1e-6)


def test_mini_batches_cover_exactly_the_nodes_with_a_share_of_the_loss():
    labels, teacher = labels_of(False), torch.randn(N, C)
    by_method = {name: set(objective.nodes.tolist()) for name, (objective, _) in objectives(labels, teacher).items()}
    assert by_method["mlp"] == {0, 3, 5}  # the labels alone
    assert by_method["hg2m"] == set(range(12))  # every observed node, never the held-out 12 and 13
    # train and reliable nodes, and the student endpoints of meta-path edges, where the edges are batched
    assert by_method["hg2m_plus"] == {0, 3, 5} | {0, 1, 2, 6, 9} | {4, 7, 8, 10, 11}
