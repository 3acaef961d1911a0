"""Register a student in the MLflow model registry, with signature, config, snapshot hash and aliases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import mlflow
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info
from mlflow.tracking import MlflowClient
from torch import nn

import hg2m
from hg2m.contracts import CHALLENGER_ALIAS, InputMatrix
from hg2m.data.graph import HeteroGraphData
from hg2m.data.transforms import FeatureTransform, transform_module
from hg2m.student_inputs import ExistingNodeInputs, InputLayout

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


def served_inputs(layout: InputLayout, raw: HeteroGraphData, model_graph: HeteroGraphData) -> Callable[
        [torch.Tensor], torch.Tensor]:
    """Existing target nodes' ids -> (len(nodes), width) dense rows as the registered model takes them: raw own
    features, then neighbour inputs derived from their edges as a new node's would be (`model_graph`: the
    preprocessed features the mean blocks average). Prepared once; call it on every batch."""
    rows = ExistingNodeInputs(layout, raw.graph, raw.target_features() if layout.own_dim else None,
                              model_graph.features)
    return lambda nodes: rows(nodes).to_dense() if rows.neighbours else rows(nodes)


def raw_example(raw: HeteroGraphData) -> torch.Tensor:
    """The first EXAMPLE_ROWS target nodes' raw own features, dense ((k, 0) for a featureless target): the own
    block of the served students' input example."""
    rows = torch.arange(min(EXAMPLE_ROWS, raw.num_target_nodes))
    if raw.target_type not in raw.features:
        return torch.zeros(len(rows), 0)
    own = raw.features[raw.target_type].index_select(0, rows)
    return own.to_dense() if own.is_sparse else own


def served_example(raw_own: torch.Tensor, inputs: InputMatrix) -> torch.Tensor:
    """Input rows for the `raw_example` nodes as a served student of `inputs`' kind takes them: raw own
    features, then the neighbour inputs (derived from preprocessed features, as for any node)."""
    rows = inputs.matrix.index_select(0, torch.arange(len(raw_own)))
    rows = rows.to_dense() if rows.is_sparse else rows
    return torch.cat([raw_own[:, : inputs.layout.own_dim], rows[:, inputs.layout.own_dim :]], dim=1)


TRAINING_KEY_TAG = "training_key"  # what a version was trained from: config, snapshot, student, run
INCOMPLETE_TAG = "registration_incomplete"  # on a version from its creation until its alias is set
UNTRAINED_SETTINGS = ("enable_cache", "tracking")  # where results are kept, not how the model is trained


def training_key(run_config: dict, snapshot_hash: str, student: str, run_key: str) -> str:
    """Identifies a registration's inputs: the same key means the same (seeded) training of the same student."""
    settings = {k: v for k, v in run_config.items() if k not in UNTRAINED_SETTINGS}
    payload = json.dumps({"run_config": settings, "snapshot_hash": snapshot_hash, "student": student,
                          "run": run_key, "hg2m": hg2m.__version__}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def register_challenger(model_uri: str, name: str, tags: dict[str, str], key: str,
                        describe: Callable[[str], str] | None = None) -> str:
    """Register the logged student `model_uri` (logged by the run that trained it, hg2m.serving.log_student, so
    that the version's source run is that run) as a version of `name` with `tags`, and give it the alias
    `challenger`; returns the version. Who becomes `champion` is the gate's decision alone (hg2m.promotion).
    `describe(version)` gives the version's description (a model card).

    Idempotent: a complete version with the same training `key` is given the alias again, not registered twice.
    Complete or absent: a version is created with its tags and marked incomplete until its alias is set, so a
    kill at any point leaves no version that looks real: `trained_snapshot_hashes` ignores it, and the next start
    deletes it (`delete_incomplete_versions`, when no other pipeline process is alive: pipelines.sessions)."""
    client = MlflowClient()
    existing = next((v for v in model_versions(client, name)
                     if v.tags.get(TRAINING_KEY_TAG) == key and INCOMPLETE_TAG not in v.tags), None)
    if existing is not None:
        client.set_registered_model_alias(name, CHALLENGER_ALIAS, existing.version)
        return str(existing.version)
    version = mlflow.register_model(model_uri, name, tags={**tags, TRAINING_KEY_TAG: key, INCOMPLETE_TAG: "true"})
    try:
        if describe:
            client.update_model_version(name, version.version, description=describe(str(version.version)))
        client.set_registered_model_alias(name, CHALLENGER_ALIAS, version.version)
        client.delete_model_version_tag(name, version.version, INCOMPLETE_TAG)
    except Exception:
        client.delete_model_version(name, version.version)
        raise
    return str(version.version)


def model_versions(client: MlflowClient, name: str | None = None) -> list:
    """Every version of `name` (of every model without one); none when the model does not exist yet."""
    return client.search_model_versions(f"name='{name}'" if name else "")


def delete_incomplete_versions(client: MlflowClient) -> list[str]:
    """Deletes the versions a killed registration left marked incomplete (their aliases go with them); returns
    them as 'name/version'. Only safe while no registration is under way."""
    incomplete = [v for v in model_versions(client) if INCOMPLETE_TAG in v.tags]
    for version in incomplete:
        client.delete_model_version(version.name, version.version)
    return [f"{v.name}/{v.version}" for v in incomplete]


def trained_snapshot_hashes(client: MlflowClient, name: str) -> set[str]:
    """Content hashes of every snapshot some complete version of `name` was trained on."""
    return {v.tags["snapshot_hash"] for v in model_versions(client, name)
            if "snapshot_hash" in v.tags and INCOMPLETE_TAG not in v.tags}


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
