"""The run's held-out and observed target nodes: the one source of the inductive split."""

from typing import Annotated

from zenml import log_metadata, step

from hg2m.contracts import RunSplit
from hg2m.data.graph import HeteroGraphData
from hg2m.inductive import split_run
from hg2m.plan import Run


@step
def split_nodes(graph: HeteroGraphData, run: Run, held_out_fraction: float) -> Annotated[RunSplit, "run_split"]:
    split = split_run(graph, run, held_out_fraction)
    log_metadata(metadata={"held_out_nodes": len(split.hidden)})
    return split
