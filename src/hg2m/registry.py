"""Register a student in the MLflow model registry, with signature, config, snapshot hash and aliases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from torch import nn

from hg2m.serving import log_student

CHALLENGER_ALIAS = "challenger"
CHAMPION_ALIAS = "champion"
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    aliases: list[str]
    model_uri: str


def register_student(
    model: nn.Module, name: str, features: torch.Tensor, tags: dict[str, str], metadata: dict,
    class_names: list[str],
) -> Registration:
    """Log `model` to the active run as a pyfunc model (hg2m.serving) and register it as a new version of `name`.

    `class_names` label the predictions (empty: predictions carry class indices only).
    The new version gets the alias `challenger`; it also becomes `champion` when the model has none
    yet (promoting a challenger over an existing champion is a separate, gated decision). If tagging
    or aliasing fails, the new version is deleted again: no half-registered model is left behind.
    """
    example = features[:EXAMPLE_ROWS].numpy().astype(np.float32)
    info = log_student(model, example, class_names, registered_model_name=name, metadata=metadata)
    version = str(info.registered_model_version)
    client = MlflowClient()
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
        aliases = [CHALLENGER_ALIAS]
        if alias_version(client, name, CHAMPION_ALIAS) is None:
            aliases.append(CHAMPION_ALIAS)
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version)
    except Exception:
        client.delete_model_version(name, version)
        raise
    return Registration(name=name, version=version, aliases=aliases, model_uri=f"models:/{name}/{version}")


def trained_snapshot_hashes(client: MlflowClient, name: str) -> set[str]:
    """Content hashes of every snapshot some version of `name` was trained on."""
    return {v.tags["snapshot_hash"] for v in client.search_model_versions(f"name='{name}'") if "snapshot_hash" in v.tags}


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version that holds `alias`, or None (also when the model does not exist yet)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
