"""The preprocessed graph partitioned for DGL's distributed engine, with the partition book recorded."""

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import mlflow
from zenml import log_metadata, step

from hg2m.config import DistributedConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distributed.partition import PartitionSummary, partition
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER)
def partition_graph(graph: HeteroGraphData, config: DistributedConfig, graph_name: str) -> tuple[
        Annotated[Path, "partitions"], Annotated[PartitionSummary, "partition_book"]]:
    """`partitions`: the folder DistDGL's servers and trainers read (its `<graph_name>.json` is the book; its
    `summary.json` is `partition_book`, which the teacher step reads from there)."""
    link_runs()
    folder = Path(tempfile.mkdtemp(prefix="hg2m-partitions-"))
    # ZenML copies the folder into the artifact store after the step returns; the copy here goes when the process
    # ends (a partitioned large graph is gigabytes)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    summary = partition(graph, folder, config.num_parts, config.part_method, config.metis_max_edges, graph_name)
    mlflow.log_artifact(str(folder / summary.config_file))
    mlflow.log_params({"num_parts": summary.num_parts, "part_method": summary.method})
    log_metadata(metadata=summary.model_dump())
    return folder, summary
