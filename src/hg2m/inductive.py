"""The two evaluation settings (GLNN protocol): transductive, and inductive with held-out nodes.

Inductive: a seeded share of the test nodes, and the same share of the validation nodes, is hidden with
all their edges before the teacher trains; teacher and students learn on the observed graph only. The
held-out validation nodes are new nodes like the held-out test nodes: never distilled, so they choose the
students' epochs (model_selection_nodes) by accuracy on new nodes rather than by agreement with the teacher.
The teacher chooses its epoch on the observed validation nodes. Hidden nodes are scored at the end (the
teacher may use the full graph there, the student uses its own inputs only).
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
    """The run's held-out nodes: none for transductive; for inductive a `fraction` of test and a `fraction` of val
    (at least one node, and at most all but one), seeded by the run."""
    hidden = np.empty(0, dtype=np.int64)
    if run.holds_out_nodes:
        rng = np.random.default_rng(run.seed)
        test, val = data.splits["test"].numpy(), data.splits["val"].numpy()
        held_out_test = rng.choice(test, size=int(round(len(test) * fraction)), replace=False)
        val_count = min(max(int(round(len(val) * fraction)), 1), len(val) - 1) if len(val) > 1 else 0
        hidden = np.sort(np.concatenate([held_out_test, rng.choice(val, size=val_count, replace=False)]))
    return RunSplit(run=run, num_nodes=data.num_target_nodes, hidden=hidden.tolist())


def model_selection_nodes(data: HeteroGraphData, observed: torch.Tensor) -> torch.Tensor:
    """The validation nodes that choose a student's epoch: the held-out ones in the inductive setting (new nodes,
    like the held-out test nodes), every validation node in the transductive one."""
    val = data.splits["val"]
    held_out = val[~observed[val]]
    return held_out if len(held_out) else val


def observed_validation(data: HeteroGraphData, observed: torch.Tensor) -> HeteroGraphData:
    """The same data with only the observed validation nodes in the val split (the teacher's model selection)."""
    val = data.splits["val"]
    return dataclasses.replace(data, splits={**data.splits, "val": val[observed[val]]})


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
    """Node sets to score: val and test; in the inductive setting each also splits into observed and held-out."""
    parts = {"val": data.splits["val"], "test": data.splits["test"]}
    if split.hidden:
        is_hidden = ~split.observed()
        for name in ("val", "test"):
            nodes = data.splits[name]
            parts[f"{name}_observed"] = nodes[~is_hidden[nodes]]
            parts[f"{name}_held_out"] = nodes[is_hidden[nodes]]
    return parts
