"""Meta-path neighbour sets of the target type, capped per node (HG2M+)."""

from typing import Annotated

import mlflow
import pandas as pd
from zenml import log_metadata, step

from hg2m.config import MetaPath, MetaPathConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.graphs.metapaths import metapath_neighbours, metapath_summary
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def metapaths(
    graph: HeteroGraphData, metapaths: dict[str, MetaPath], config: MetaPathConfig, derived: bool
) -> Annotated[pd.DataFrame, "metapath_neighbours"]:
    """`derived`: the meta-paths came from the graph's schema, not from a dataset config."""
    link_runs()
    frame = metapath_neighbours(graph.graph, metapaths, graph.target_type, config.max_per_node, config.min_count)
    definitions = {name: path.describe() for name, path in metapaths.items()}
    mlflow.log_params({**{f"metapath.{name}": text for name, text in definitions.items()}, "metapaths_derived": derived})
    log_metadata(metadata={"metapaths": definitions, "derived": derived, "pairs_per_metapath": metapath_summary(frame),
                           "max_per_node": config.max_per_node})
    return frame
