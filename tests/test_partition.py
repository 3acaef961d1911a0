"""Partitioning for DistDGL: a small graph from the generator, cut in two; every node, edge and node-data row lands
in exactly one part, under its original id as recorded beside the partition book."""

import dgl
import pytest
import torch
from conftest import generated_snapshot

from hg2m.config import GraphConfig, SyntheticGraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.distributed.partition import MASK_KEYS, ORIG_IDS_FILE, chosen_method, partition

SMALL = SyntheticGraphConfig(num_papers=1200, num_classes=4, train=200, val=100, test=300, paper_feature_dim=8,
                             side_feature_dim=4)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_graph_data(generated_snapshot(SMALL, tmp_path_factory.mktemp("synthetic") / "igb-tiny"), GraphConfig())


@pytest.mark.parametrize("method", ["metis", "random"])
def test_every_node_and_row_lands_in_one_part_under_its_original_id(data, tmp_path, method):
    summary = partition(data, tmp_path, num_parts=2, method=method, graph_name="igb")
    assert summary.method == method and summary.num_parts == 2
    for ntype in data.graph.ntypes:
        assert sum(part[ntype] for part in summary.nodes_per_part) == data.graph.num_nodes(ntype)
    assert sum(summary.edges_per_part) == data.graph.num_edges()
    for split in MASK_KEYS:
        assert sum(part[split] for part in summary.target_per_part) == len(data.splits[split])

    original = torch.load(tmp_path / ORIG_IDS_FILE)["nodes"]
    target, seen = data.target_type, []
    for part in range(2):
        _, node_data, _, book, *_ = dgl.distributed.load_partition(str(tmp_path / summary.config_file), part)
        owned = book.partid2nids(part, target)  # shuffled ids of the target nodes this part owns
        ids = original[target][owned]
        assert torch.equal(node_data[f"{target}/label"], data.labels[ids])
        assert torch.equal(node_data[f"{target}/feat"], data.features[target][ids])
        seen.append(ids)
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(data.num_target_nodes))


def test_auto_uses_metis_while_the_graph_fits_it():
    assert chosen_method("auto", num_edges=1_000, metis_max_edges=1_000) == "metis"
    assert chosen_method("auto", num_edges=1_001, metis_max_edges=1_000) == "random"
    assert chosen_method("random", num_edges=10, metis_max_edges=1_000) == "random"
