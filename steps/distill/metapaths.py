"""Meta-path neighbour sets of the target type, capped per node (HG2M+)."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from hg2m.config import MetaPathConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.graphs.metapaths import metapath_neighbours, metapath_summary


@step
def metapaths(
    graph: HeteroGraphData, metapaths: dict[str, list[str]], config: MetaPathConfig
) -> Annotated[pd.DataFrame, "metapath_neighbours"]:
    frame = metapath_neighbours(graph.graph, metapaths, config.max_per_node, config.min_count)
    log_metadata(metadata={"pairs_per_metapath": metapath_summary(frame), "max_per_node": config.max_per_node})
    return frame
