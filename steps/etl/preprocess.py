"""Feature preprocessing: one transform per node type, chosen from its statistics (hg2m.data.transforms)."""

import dataclasses
from typing import Annotated

import mlflow
from zenml import log_metadata, step

from hg2m.contracts import FeatureTransforms
from hg2m.data.graph import HeteroGraphData
from hg2m.data.transforms import apply_transforms, fit_transforms
from hg2m.registry import raw_example
from steps.materializers import HeteroGraphDataMaterializer
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER, output_materializers={"model_graph": HeteroGraphDataMaterializer})
def preprocess(
    graph: HeteroGraphData,
) -> tuple[Annotated[HeteroGraphData, "model_graph"], Annotated[FeatureTransforms, "feature_transforms"],
           Annotated[list[list[float]], "raw_example"]]:
    """The graph with transformed features, which teachers and students train on; the fitted transforms, which
    every logged student applies to raw inputs itself; and a few target nodes' raw features, the own block of
    the logged students' input example."""
    link_runs()
    transforms = FeatureTransforms(by_type=fit_transforms(graph.features))
    mlflow.log_params({f"transform.{t}": f"log1p={f.log1p}, {'z-score' if f.center else 'scale'}"
                       for t, f in transforms.by_type.items()})
    mlflow.log_dict(transforms.model_dump(mode="json"), "feature_transforms.json")
    log_metadata(metadata={"transforms": {t: f.reason for t, f in transforms.by_type.items()}})
    model_graph = dataclasses.replace(graph, features=apply_transforms(graph.features, transforms.by_type))
    return model_graph, transforms, raw_example(graph).tolist()
