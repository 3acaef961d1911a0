"""Snapshot -> DGL heterograph with features, labels and splits."""

from typing import Annotated

from zenml import step

from hg2m.config import GraphConfig
from hg2m.data.graph import HeteroGraphData, build_graph_data
from hg2m.data.snapshot import GraphSnapshot
from steps.materializers import HeteroGraphDataMaterializer


@step(output_materializers=HeteroGraphDataMaterializer)
def build_graph(snapshot: GraphSnapshot, config: GraphConfig) -> Annotated[HeteroGraphData, "graph"]:
    return build_graph_data(snapshot, config)
