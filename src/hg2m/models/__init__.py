"""Models: teachers (HGNNs over a heterograph) and the MLP student.

Teachers share one interface: `forward(graph, features) -> TeacherOutput(logits, embeddings)`.
"""

from __future__ import annotations

from torch import nn

from hg2m.config import GraphConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.models.mlp import MLP
from hg2m.models.output import TeacherOutput
from hg2m.models.rgcn import RGCN

TEACHERS: dict[str, type[nn.Module]] = {"rgcn": RGCN}

__all__ = ["MLP", "RGCN", "TEACHERS", "TeacherOutput", "build_teacher"]


def build_teacher(config: TeacherConfig, data: HeteroGraphData, graph_config: GraphConfig) -> nn.Module:
    """Instantiate the configured teacher for this graph's node types, relations and classes."""
    graph = data.graph
    return TEACHERS[config.model](
        feature_dims={t: f.shape[1] for t, f in data.features.items()},
        num_nodes={t: graph.num_nodes(t) for t in graph.ntypes},
        relations=list(graph.etypes),
        target_type=data.target_type,
        num_classes=data.num_classes,
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
        dropout=config.dropout,
        embedding_dim=graph_config.featureless_embedding_dim,
        self_loop=config.self_loop,
    )
