"""The two evaluation settings (GLNN protocol): transductive, and inductive with held-out test nodes.

Inductive: a seeded share of the test nodes is hidden, with all their edges, before the teacher
trains; teacher and students learn on the observed graph only, and the hidden nodes are scored
at the end (the teacher may use the full graph there, the student uses features only).
"""

from __future__ import annotations

import dataclasses

import dgl
import numpy as np
import torch

from hg2m.data.graph import HeteroGraphData

SETTINGS = ("transductive", "inductive")


def hidden_nodes(data: HeteroGraphData, setting: str, fraction: float, seed: int) -> torch.Tensor:
    """Sorted ids of the held-out test nodes: none for transductive, a seeded share of test for inductive."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose from {SETTINGS}")
    if setting == "transductive":
        return torch.empty(0, dtype=torch.int64)
    test = data.splits["test"].numpy()
    count = int(round(len(test) * fraction))
    chosen = np.random.default_rng(seed).choice(test, size=count, replace=False)
    return torch.from_numpy(np.sort(chosen))


def observed_mask(num_nodes: int, hidden: torch.Tensor) -> torch.Tensor:
    """(N,) bool: True for the nodes training may see."""
    mask = torch.ones(num_nodes, dtype=torch.bool)
    mask[hidden] = False
    return mask


def observed_graph(data: HeteroGraphData, hidden: torch.Tensor) -> HeteroGraphData:
    """The same data with every edge touching a hidden target node removed (node ids unchanged)."""
    if len(hidden) == 0:
        return data
    graph = data.graph
    is_hidden = ~observed_mask(data.num_target_nodes, hidden)
    for src_type, etype, dst_type in graph.canonical_etypes:
        src, dst = graph.edges(etype=(src_type, etype, dst_type))
        touches = torch.zeros(len(src), dtype=torch.bool)
        if src_type == data.target_type:
            touches |= is_hidden[src]
        if dst_type == data.target_type:
            touches |= is_hidden[dst]
        if touches.any():
            graph = dgl.remove_edges(graph, torch.nonzero(touches).squeeze(1), etype=(src_type, etype, dst_type))
    return dataclasses.replace(data, graph=graph)


def evaluation_parts(data: HeteroGraphData, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
    """Node sets to score: val and test; in the inductive setting test splits into observed and held-out."""
    parts = {"val": data.splits["val"], "test": data.splits["test"]}
    if len(hidden):
        is_hidden = ~observed_mask(data.num_target_nodes, hidden)
        test = data.splits["test"]
        parts["test_observed"] = test[~is_hidden[test]]
        parts["test_held_out"] = test[is_hidden[test]]
    return parts
