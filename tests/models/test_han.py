import pytest
import torch

from hg2m.config import GraphConfig, HANConfig, MetaPath
from hg2m.data.graph import build_graph_data
from hg2m.models import build_teacher
from hg2m.models.han import SemanticAttention, metapath_graph

APA = {"APA": MetaPath(node_types=["author", "paper", "author"])}


def edge_set(graph, etype: str) -> set[tuple[int, int]]:
    src, dst = graph.edges(etype=etype)
    return set(zip(src.tolist(), dst.tolist()))


def test_metapath_graph_has_capped_pairs_both_ways_and_self_loops(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    apvpa = MetaPath(node_types=["author", "paper", "venue", "paper", "author"])
    view = metapath_graph(data.graph, {**APA, "APVPA": apvpa}, "author", max_neighbours=50)
    loops = {(i, i) for i in range(6)}
    # papers: 0 by authors {0, 1}, 2 by {3, 4}, 3 by {5, 0}; paper 1 has author 2 alone
    apa_pairs = {(0, 1), (3, 4), (0, 5)}
    assert edge_set(view, "APA") == apa_pairs | {(j, i) for i, j in apa_pairs} | loops
    # venue 0 has papers 0 and 2 (authors 0, 1, 3, 4), venue 1 papers 1 and 3 (authors 2, 5, 0)
    groups = [{0, 1, 3, 4}, {0, 2, 5}]
    expected = {(i, j) for g in groups for i in g for j in g}
    assert edge_set(view, "APVPA") == expected


def test_cap_keeps_each_nodes_strongest_neighbours(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    view = metapath_graph(data.graph, APA, "author", max_neighbours=1)
    # author 0 has neighbours 1 and 5 (one shared paper each): the tie goes to the smaller id, but author 5
    # keeps the pair from its own side (a pair stays if either endpoint kept it)
    assert {(0, 1), (0, 5)} <= edge_set(view, "APA")


def test_semantic_attention_is_a_convex_combination_of_meta_paths():
    torch.manual_seed(0)
    z = torch.randn(5, 3, 4)
    out = SemanticAttention(4, 8)(z)
    beta = torch.linalg.lstsq(z[0].t(), out[0].unsqueeze(1)).solution.squeeze(1)
    assert out.shape == (5, 4)
    torch.testing.assert_close(beta.sum(), torch.tensor(1.0), atol=1e-4, rtol=0)
    assert (beta > 0).all()


def test_han_refuses_the_typed_graph_and_missing_metapaths(tiny_snapshot):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    config = HANConfig(hidden_dim=4, num_heads=2)
    model = build_teacher(config, data, GraphConfig(), APA)
    with pytest.raises(ValueError, match="graph_view"):
        model(data.graph, data.features)
    with pytest.raises(ValueError, match="needs meta-paths"):
        build_teacher(config, data, GraphConfig(), {})
