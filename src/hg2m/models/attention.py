"""Softmax of edge scores across relations: HGT and Simple-HGN normalise attention over every incoming edge
of a node, whatever its relation."""

from __future__ import annotations

import dgl
import dgl.function as fn
import torch

Etype = tuple[str, str, str]


def edge_softmax_across_relations(graph: dgl.DGLGraph, scores: dict[Etype, torch.Tensor]) -> dict[Etype, torch.Tensor]:
    """Softmax of edge scores (E_r, ...) over all incoming edges of each destination node, across relations.

    Built on multi_update_all because DGL 2.1's heterograph `edge_softmax` fails on blocks and returns
    garbage when a relation has no edges (common in sampled blocks)."""
    with graph.local_scope():
        # Softmax is shift-invariant: subtracting the (detached) largest incoming score only adds stability.
        top = reduce_to_destinations(graph, {ce: s.detach() for ce, s in scores.items()}, fn.max, "max")
        exp = {ce: torch.exp(s - top[ce[2]][graph.edges(etype=ce)[1]]) for ce, s in scores.items()}
        total = reduce_to_destinations(graph, exp, fn.sum, "sum")
        return {ce: e / total[ce[2]][graph.edges(etype=ce)[1]] for ce, e in exp.items()}


def reduce_to_destinations(graph: dgl.DGLGraph, values: dict[Etype, torch.Tensor], reducer, cross: str) -> dict:
    """Destination type -> per-node reduction of the incoming edges' values over all relations."""
    for ce, v in values.items():
        graph.edges[ce].data["v"] = v
    graph.multi_update_all({ce: (fn.copy_e("v", "m"), reducer("m", "r")) for ce in values}, cross)
    return {t: graph.dstnodes[t].data["r"] for t in {ce[2] for ce in values}}
