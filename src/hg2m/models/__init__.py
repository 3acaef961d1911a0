"""Models: teachers (HGNNs over a heterograph) and the MLP student.

Teachers share one interface (`hg2m.models.base.Teacher`): built from a `TeacherSpec` and their own
settings class (`RGCNConfig`, `HANConfig`, ... in `hg2m.config.schema`),
`forward(graph_or_blocks, features, input_ids) -> TeacherOutput(logits, embeddings)`.
"""

from __future__ import annotations

from hg2m.config import GraphConfig, MetaPath, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.models.base import Teacher, TeacherSpec
from hg2m.models.han import HAN
from hg2m.models.hgt import HGT
from hg2m.models.mlp import MLP
from hg2m.models.output import TeacherOutput
from hg2m.models.rgcn import RGCN
from hg2m.models.simplehgn import SimpleHGN

TEACHERS: dict[str, type[Teacher]] = {"rgcn": RGCN, "han": HAN, "simplehgn": SimpleHGN, "hgt": HGT}

__all__ = ["MLP", "RGCN", "TEACHERS", "Teacher", "TeacherOutput", "TeacherSpec", "build_teacher", "teacher_spec"]


def teacher_spec(data: HeteroGraphData, graph_config: GraphConfig, metapaths: dict[str, MetaPath]) -> TeacherSpec:
    """What a teacher needs to know about this graph's node types, relations and classes."""
    graph = data.graph
    return TeacherSpec(
        feature_dims={t: f.shape[1] for t, f in data.features.items()},
        num_nodes={t: graph.num_nodes(t) for t in graph.ntypes},
        canonical_etypes=list(graph.canonical_etypes),
        target_type=data.target_type,
        num_classes=data.num_classes,
        embedding_dim=graph_config.featureless_embedding_dim,
        metapaths=metapaths,
    )


def build_teacher(
    config: TeacherConfig, data: HeteroGraphData, graph_config: GraphConfig, metapaths: dict[str, MetaPath] | None = None
) -> Teacher:
    """Instantiate the configured teacher for this graph (`config.model` picks the class in `TEACHERS`)."""
    return TEACHERS[config.model](teacher_spec(data, graph_config, metapaths or {}), config)
