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

from hg2m.contracts import RunSplit
from hg2m.data.graph import HeteroGraphData
from hg2m.plan import Run


def split_run(data: HeteroGraphData, run: Run, fraction: float) -> RunSplit:
    """The run's held-out nodes: none for transductive, a `fraction` of test (seeded by the run) for inductive."""
    hidden = np.empty(0, dtype=np.int64)
    if run.holds_out_nodes:
        test = data.splits["test"].numpy()
        count = int(round(len(test) * fraction))
        hidden = np.sort(np.random.default_rng(run.seed).choice(test, size=count, replace=False))
    return RunSplit(run=run, num_nodes=data.num_target_nodes, hidden=hidden.tolist())


def observed_graph(data: HeteroGraphData, split: RunSplit) -> HeteroGraphData:
    """The same data with every edge touching a held-out target node removed (node ids unchanged)."""
    if not split.hidden:
        return data
    graph = data.graph
    is_hidden = ~split.observed()
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


def evaluation_parts(data: HeteroGraphData, split: RunSplit) -> dict[str, torch.Tensor]:
    """Node sets to score: val and test; in the inductive setting test splits into observed and held-out."""
    parts = {"val": data.splits["val"], "test": data.splits["test"]}
    if split.hidden:
        is_hidden = ~split.observed()
        test = data.splits["test"]
        parts["test_observed"] = test[~is_hidden[test]]
        parts["test_held_out"] = test[is_hidden[test]]
    return parts
