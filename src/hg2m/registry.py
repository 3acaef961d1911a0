"""Register a student in the MLflow model registry, with signature, config, snapshot hash and aliases."""

from __future__ import annotations

import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info
from mlflow.tracking import MlflowClient
from torch import nn

from hg2m.contracts import CHALLENGER_ALIAS
from hg2m.data.graph import HeteroGraphData
from hg2m.data.transforms import FeatureTransform, transform_module
from hg2m.serving import log_student
from hg2m.student_inputs import InputLayout, derive_inputs, node_edges

EXAMPLE_ROWS = 5


class OwnBlockTransform(nn.Module):
    """Transforms the first `width` columns (the node's own raw features) and passes the rest (neighbour
    inputs, already derived from preprocessed features) through."""

    def __init__(self, transform: nn.Module, width: int):
        super().__init__()
        self.transform, self.width = transform, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.transform(x[:, : self.width]), x[:, self.width :]], dim=1)


def served_student(student: nn.Module, layout: InputLayout, transform: FeatureTransform | None) -> nn.Module:
    """What is registered: the student behind the transform of its own-feature block, so that it takes the node's
    raw features (followed by its neighbour inputs, when the layout has them: hg2m.student_inputs.derive_inputs)."""
    if transform is None or layout.own_dim == 0:
        return student
    prefix = transform_module(transform)
    if layout.width > layout.own_dim:
        prefix = OwnBlockTransform(prefix, layout.own_dim)
    return nn.Sequential(prefix, student)


def served_inputs(layout: InputLayout, raw: HeteroGraphData, model_graph: HeteroGraphData,
                  nodes: torch.Tensor) -> torch.Tensor:
    """(len(nodes), width) dense rows of existing target nodes as the registered model takes them: raw own
    features, then neighbour inputs derived from their edges as a new node's would be (`model_graph`: the
    preprocessed features the mean blocks average)."""
    own = raw.target_features()[nodes] if layout.own_dim else None
    if layout.width == layout.own_dim:
        return own
    edges = node_edges(raw.graph, layout, nodes.numpy())
    return derive_inputs(layout, None if own is None else own.numpy(), edges, model_graph.features,
                         num_rows=len(nodes)).to_dense()


def register_challenger(
    model: nn.Module, name: str, example: torch.Tensor, tags: dict[str, str], metadata: dict, class_names: list[str],
) -> str:
    """Log `model` to the active run as a pyfunc model (hg2m.serving; `example`: a few input rows, for the
    signature), register it as a new version of `name`
    with `tags`, and give it the alias `challenger`; returns the version. Who becomes `champion` is the gate's
    decision alone (hg2m.promotion). If tagging or aliasing fails, the new version is deleted again: no
    half-registered model is left behind. `class_names` label the predictions (empty: class indices only)."""
    info = log_student(model, example.numpy().astype(np.float32), class_names, registered_model_name=name,
                       metadata=metadata)
    version = str(info.registered_model_version)
    client = MlflowClient()
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        client.set_registered_model_alias(name, CHALLENGER_ALIAS, version)
    except Exception:
        client.delete_model_version(name, version)
        raise
    return version


def trained_snapshot_hashes(client: MlflowClient, name: str) -> set[str]:
    """Content hashes of every snapshot some version of `name` was trained on."""
    return {v.tags["snapshot_hash"] for v in client.search_model_versions(f"name='{name}'") if "snapshot_hash" in v.tags}


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version that holds `alias`, or None (also when the model does not exist yet)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def registered_layout(model_uri: str, data: HeteroGraphData) -> InputLayout:
    """The input layout a registered student was logged with; versions from before neighbour inputs took the
    target's own features."""
    metadata = get_model_info(model_uri).metadata or {}
    if "input_layout" in metadata:
        return InputLayout.model_validate(metadata["input_layout"])
    return InputLayout(kind="own", target_type=data.target_type, own_dim=data.target_features().shape[1])
