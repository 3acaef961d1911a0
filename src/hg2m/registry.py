"""Register a student in the MLflow model registry, with signature, config, snapshot hash and aliases."""

from __future__ import annotations

import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from torch import nn

from hg2m.contracts import CHALLENGER_ALIAS
from hg2m.serving import log_student

EXAMPLE_ROWS = 5


def register_challenger(
    model: nn.Module, name: str, features: torch.Tensor, tags: dict[str, str], metadata: dict, class_names: list[str],
) -> str:
    """Log `model` to the active run as a pyfunc model (hg2m.serving), register it as a new version of `name`
    with `tags`, and give it the alias `challenger`; returns the version. Who becomes `champion` is the gate's
    decision alone (hg2m.promotion). If tagging or aliasing fails, the new version is deleted again: no
    half-registered model is left behind. `class_names` label the predictions (empty: class indices only)."""
    example = features[:EXAMPLE_ROWS].numpy().astype(np.float32)
    info = log_student(model, example, class_names, registered_model_name=name, metadata=metadata)
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
