"""Partition a graph for DGL's distributed engine (DistDGL), the first step past one machine.

`partition(data, folder, ...)` writes what `dgl.distributed.partition_graph` writes (the partition config
`<graph_name>.json`, which is the partition book, and one `part<i>/` folder per part with its graph structure and
node data) plus `summary.json` (the PartitionSummary) and `orig_ids.pt`, the original id of every shuffled node and
edge id per type, which is how results computed on the partitions are put back in the pipeline's node order. Node
data stored with the parts:

    feat        every node type with features (float32; sparse features are stored dense: DistDGL's
                tensors are dense)
    label       the target type: classes (int64), or multi-label 0/1 indicators (float32)
    train_mask, val_mask, test_mask   the target type's splits (bool)

and as edge data of every relation `gcn_scale`, RGCN's normalisation from the whole graph's degrees
(hg2m.models.rgcn), which a trainer's sampled blocks cannot compute.

METIS balances the parts and keeps neighbourhoods together, but holds the whole graph in memory, so `auto` uses
it up to `metis_max_edges` edges and random assignment beyond.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import dgl
import torch
from pydantic import BaseModel, ConfigDict

from hg2m.data.graph import HeteroGraphData, index_mask
from hg2m.models.rgcn import NORM_KEY, degree_scale

PartMethod = Literal["auto", "metis", "random"]
FEATURE_KEY, LABEL_KEY = "feat", "label"
MASK_KEYS = {"train": "train_mask", "val": "val_mask", "test": "test_mask"}
EDGE_KEYS = (NORM_KEY,)
ORIG_IDS_FILE, SUMMARY_FILE = "orig_ids.pt", "summary.json"


class PartitionSummary(BaseModel):
    """What a partitioning produced: the pipeline's record of the partition book."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    graph_name: str
    num_parts: int
    method: Literal["metis", "random"]
    config_file: str  # the partition book DGL reads (dgl.distributed.initialize / DistGraph), inside the folder
    nodes_per_part: list[dict[str, int]]  # owned (not halo) nodes of each type, per part
    edges_per_part: list[int]  # owned edges, per part
    target_per_part: list[dict[str, int]]  # owned target nodes of each split, per part


def chosen_method(method: PartMethod, num_edges: int, metis_max_edges: int) -> Literal["metis", "random"]:
    """`auto`: METIS while the graph fits it (at most `metis_max_edges` edges), random assignment beyond."""
    if method != "auto":
        return method
    return "metis" if num_edges <= metis_max_edges else "random"


def split_masks(data: HeteroGraphData) -> dict[str, torch.Tensor]:
    """Node-data key -> (N,) bool mask of the target nodes in that split."""
    return {key: index_mask(data.splits[split], data.num_target_nodes) for split, key in MASK_KEYS.items()}


def graph_with_node_data(data: HeteroGraphData) -> dgl.DGLGraph:
    """A copy of the graph's structure carrying features, labels and split masks as node data, and edge data."""
    graph = dgl.heterograph({etype: data.graph.edges(etype=etype) for etype in data.graph.canonical_etypes},
                            {ntype: data.graph.num_nodes(ntype) for ntype in data.graph.ntypes})
    for etype in graph.canonical_etypes:
        graph.edges[etype].data[NORM_KEY] = degree_scale(graph, etype)
    for ntype, features in data.features.items():
        graph.nodes[ntype].data[FEATURE_KEY] = (features.to_dense() if features.is_sparse else features).float()
    target = graph.nodes[data.target_type].data
    target[LABEL_KEY] = data.labels
    target.update(split_masks(data))
    return graph


def partition(data: HeteroGraphData, folder: Path, num_parts: int, method: PartMethod = "auto",
              metis_max_edges: int = 100_000_000, graph_name: str = "graph") -> PartitionSummary:
    """Partition `data`'s graph (with its node data) into `num_parts` parts under `folder`; one-hop halos, as DGL's
    distributed examples use, so that sampling a node's neighbours reads its own part first."""
    if num_parts < 1:
        raise ValueError(f"num_parts must be at least 1, got {num_parts}")
    graph = graph_with_node_data(data)
    resolved = chosen_method(method, graph.num_edges(), metis_max_edges)
    folder = Path(folder)
    node_ids, edge_ids = dgl.distributed.partition_graph(
        graph, graph_name, num_parts, str(folder), num_hops=1, part_method=resolved, balance_edges=True,
        return_mapping=True)
    torch.save({"nodes": node_ids, "edges": edge_ids}, folder / ORIG_IDS_FILE)
    book = json.loads((folder / f"{graph_name}.json").read_text())
    nodes = nodes_per_part(book)
    summary = PartitionSummary(
        graph_name=graph_name, num_parts=num_parts, method=resolved, config_file=f"{graph_name}.json",
        nodes_per_part=nodes, edges_per_part=edges_per_part(book),
        target_per_part=targets_per_part(nodes, data.target_type, node_ids[data.target_type], split_masks(data)))
    (folder / SUMMARY_FILE).write_text(summary.model_dump_json())
    return summary


def read_summary(folder: Path) -> PartitionSummary:
    """The summary `partition` wrote beside the parts."""
    return PartitionSummary.model_validate_json((Path(folder) / SUMMARY_FILE).read_text())


def nodes_per_part(book: dict) -> list[dict[str, int]]:
    """Owned nodes of each type per part, from the partition book's (start, end) ranges."""
    return [{ntype: ranges[part][1] - ranges[part][0] for ntype, ranges in book["node_map"].items()}
            for part in range(book["num_parts"])]


def edges_per_part(book: dict) -> list[int]:
    return [sum(ranges[part][1] - ranges[part][0] for ranges in book["edge_map"].values())
            for part in range(book["num_parts"])]


def targets_per_part(nodes: list[dict[str, int]], target_type: str, original_ids: torch.Tensor,
                     masks: dict[str, torch.Tensor]) -> list[dict[str, int]]:
    """Owned target nodes of each split per part. A part owns a contiguous run of the shuffled ids of each type,
    in part order; `original_ids` maps them back to the graph's ids."""
    counts, start = [], 0
    for part in nodes:
        owned = original_ids[start : start + part[target_type]]
        start += part[target_type]
        counts.append({split: int(masks[key][owned].sum()) for split, key in MASK_KEYS.items()})
    return counts
