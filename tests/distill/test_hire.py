import math

import pytest
import torch
from conftest import PAPER_AUTHOR, PAPER_FEATURES

from hg2m.config import GraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.distill.hire import (
    HireEncoders,
    log_relation_matrix,
    neighbour_types,
    pool_missing_types,
    relation_kd_loss,
    sample_type_neighbours,
)
from hg2m.models.inputs import gather_rows

NO_CAP = 100


def papers_of(authors: list[int]) -> set[int]:
    return {p for p, a in PAPER_AUTHOR if a in authors}


@pytest.fixture
def tiny_data(tiny_snapshot):
    return build_graph_data(tiny_snapshot, GraphConfig())


def sample(data, batch, max_neighbours=NO_CAP, seed=0):
    etypes = neighbour_types(data.graph, "author")
    generator = torch.Generator().manual_seed(seed)
    return sample_type_neighbours(data.graph, "author", torch.tensor(batch), etypes, max_neighbours, generator)


def test_neighbour_types_one_hop_from_target(tiny_data, tiny_snapshot):
    # author -> paper only via the reverse relation; venues are two hops away
    assert neighbour_types(tiny_data.graph, "author") == {"paper": ["rev_paper_author"]}
    no_reverse = build_graph_data(tiny_snapshot, GraphConfig(add_reverse_edges=False))
    assert neighbour_types(no_reverse.graph, "author") == {}
    assert neighbour_types(tiny_data.graph, "paper") == {"author": ["paper_author"], "venue": ["paper_venue"]}


def test_sample_type_neighbours_hand_derived(tiny_data):
    # author 0 wrote papers 0 and 3, author 2 wrote paper 1
    nbrs = sample(tiny_data, [0, 2])
    assert set(nbrs) == {"paper"}
    assert nbrs["paper"].tolist() == [0, 1, 3] == sorted(papers_of([0, 2]))


def test_sample_type_neighbours_cap_is_seeded_subset(tiny_data):
    all_authors = list(range(6))
    full = set(sample(tiny_data, all_authors)["paper"].tolist())
    assert full == {0, 1, 2, 3}
    capped = sample(tiny_data, all_authors, max_neighbours=2, seed=7)["paper"]
    assert len(capped) == 2 and len(set(capped.tolist())) == 2 and set(capped.tolist()) <= full
    again = sample(tiny_data, all_authors, max_neighbours=2, seed=7)["paper"]
    assert torch.equal(capped, again)
    draws = {tuple(sample(tiny_data, all_authors, max_neighbours=2, seed=s)["paper"].tolist()) for s in range(20)}
    assert len(draws) > 1  # the seed actually drives the draw


def test_sample_type_neighbours_omits_empty_types(tiny_data):
    etypes = {"paper": ["rev_paper_author"]}
    generator = torch.Generator().manual_seed(0)
    empty = sample_type_neighbours(tiny_data.graph, "author", torch.tensor([], dtype=torch.int64), etypes, 2, generator)
    assert empty == {}


def relation_matrix(h_batch: torch.Tensor, h_nbrs: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, S) C = row-softmax(cos(h_batch, h_nbrs) / tau), from the log form the loss uses."""
    return log_relation_matrix(h_batch, h_nbrs, tau).exp()


def test_relation_matrix_hand_case():
    # cos = [1, 0] -> softmax = [e / (e + 1), 1 / (e + 1)]
    c = relation_matrix(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), tau=1.0)
    e = math.e
    assert c.shape == (1, 2)
    assert c[0].tolist() == pytest.approx([e / (e + 1), 1 / (e + 1)])


def test_relation_kd_loss_hand_computed():
    # teacher: cos = [1, 0]  -> p = [e/(e+1), 1/(e+1)] = [0.731059, 0.268941]
    # student: cos = [0, 0]  -> q = [0.5, 0.5]   (batch node orthogonal to both neighbours)
    # KL(p || q) = p0 ln(p0 / 0.5) + p1 ln(p1 / 0.5) = 0.731059*0.379885 + 0.268941*(-0.620115)
    #           = 0.277719 - 0.166774 = 0.110944
    teacher_batch, teacher_nbrs = torch.tensor([[1.0, 0.0]]), {"paper": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    student_batch = torch.tensor([[0.0, 0.0, 1.0]])
    student_nbrs = {"paper": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])}
    p0, p1 = math.e / (math.e + 1), 1 / (math.e + 1)
    expected = p0 * math.log(p0 / 0.5) + p1 * math.log(p1 / 0.5)
    loss = relation_kd_loss(teacher_batch, teacher_nbrs, student_batch, student_nbrs, tau=1.0)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.110944, abs=1e-6)


def test_relation_kd_loss_zero_for_scaled_student():
    gen = torch.Generator().manual_seed(0)
    teacher_batch = torch.randn(4, 5, generator=gen)
    teacher_nbrs = {"paper": torch.randn(6, 5, generator=gen)}
    # cosine is scale-invariant, so 3x the teacher's embeddings give the same relation matrices
    loss = relation_kd_loss(teacher_batch, teacher_nbrs, 3 * teacher_batch, {"paper": 3 * teacher_nbrs["paper"]}, 0.5)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_relation_kd_loss_sums_over_types_and_handles_widths():
    gen = torch.Generator().manual_seed(1)
    d1, d2 = 7, 3
    teacher_batch, student_batch = torch.randn(4, d1, generator=gen), torch.randn(4, d2, generator=gen)
    teacher_nbrs = {"paper": torch.randn(5, d1, generator=gen), "venue": torch.randn(2, d1, generator=gen)}
    student_nbrs = {"paper": torch.randn(5, d2, generator=gen), "venue": torch.randn(2, d2, generator=gen)}
    per_type = [
        relation_kd_loss(teacher_batch, {t: teacher_nbrs[t]}, student_batch, {t: student_nbrs[t]}, 0.5)
        for t in teacher_nbrs
    ]
    both = relation_kd_loss(teacher_batch, teacher_nbrs, student_batch, student_nbrs, 0.5)
    assert all(v.item() > 0 for v in per_type)
    assert both.item() == pytest.approx(sum(v.item() for v in per_type), rel=1e-6)


def test_relation_kd_loss_gradient_reaches_student_only():
    gen = torch.Generator().manual_seed(2)
    teacher_batch = torch.randn(3, 4, generator=gen, requires_grad=True)
    teacher_nbrs = {"paper": torch.randn(5, 4, generator=gen, requires_grad=True)}
    student_batch = torch.randn(3, 6, generator=gen, requires_grad=True)
    student_nbrs = {"paper": torch.randn(5, 6, generator=gen, requires_grad=True)}
    relation_kd_loss(teacher_batch, teacher_nbrs, student_batch, student_nbrs, 1.0).backward()
    assert student_batch.grad is not None and student_batch.grad.abs().sum() > 0
    assert student_nbrs["paper"].grad is not None and student_nbrs["paper"].grad.abs().sum() > 0
    assert teacher_batch.grad is None and teacher_nbrs["paper"].grad is None


def test_relation_kd_loss_no_types_and_mismatch():
    student = torch.randn(2, 3, dtype=torch.float64)
    zero = relation_kd_loss(torch.randn(2, 4), {}, student, {}, 1.0)
    assert zero.item() == 0.0 and zero.dtype == torch.float64 and zero.device == student.device
    with pytest.raises(ValueError):
        relation_kd_loss(torch.randn(2, 4), {"paper": torch.randn(1, 4)}, student, {}, 1.0)


def test_gather_rows_sparse_equals_dense():
    dense = torch.from_numpy(PAPER_FEATURES.toarray())
    sparse = dense.to_sparse().coalesce()
    idx = torch.tensor([3, 0, 3])
    rows = gather_rows(sparse, idx)
    assert rows.is_sparse
    assert torch.equal(rows.to_dense(), dense[idx])
    assert torch.equal(gather_rows(dense, idx), dense[idx])


def test_hire_encoders_dense_sparse_and_featureless(tiny_data):
    paper_features = tiny_data.features["paper"]
    assert paper_features.is_sparse
    dense = {"paper": paper_features.to_dense(), "dense_type": torch.randn(5, 3)}
    encoders = HireEncoders({"paper": paper_features.shape[1], "dense_type": 3}, out_dim=8, num_nodes={"venue": 2})
    assert encoders.has("paper") and encoders.has("dense_type") and encoders.has("venue")
    idx = torch.tensor([0, 2])
    from_sparse = encoders("paper", idx, tiny_data.features)
    from_dense = encoders("paper", idx, dense)
    assert from_sparse.shape == (2, 8)
    assert torch.allclose(from_sparse, from_dense, atol=1e-6)
    assert encoders("dense_type", torch.arange(5), dense).shape == (5, 8)
    venues = encoders("venue", torch.tensor([1, 0, 1]), tiny_data.features)  # featureless: a learned id embedding
    assert torch.equal(venues[0], venues[2]) and venues.shape == (3, 8)
    (from_sparse.sum() + venues.sum()).backward()
    assert encoders.encoders["paper"][0].weight.grad is not None and encoders.embeddings["venue"].weight.grad is not None


def test_missing_teacher_types_get_the_mean_of_their_target_neighbours(tiny_data):
    target = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    completed = pool_missing_types(tiny_data.graph, "author", {"author": target})
    # paper 0 is written by authors 0 and 1, paper 1 by author 2 alone
    torch.testing.assert_close(completed["paper"][0], (target[0] + target[1]) / 2)
    torch.testing.assert_close(completed["paper"][1], target[2])
    assert set(completed) == {"author", "paper"}  # venues are not next to authors
