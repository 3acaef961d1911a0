"""Typed configuration: YAML files under `configs/` loaded into pydantic models.

A run is described by one `RunConfig`: the pipeline file (`configs/pipelines/distill.yaml`) names the
teacher, the students and the training settings; the dataset file (`configs/datasets/<name>.yaml`)
says where the raw files are and how to read them. The CLI overrides single values on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"


class ConfigError(ValueError):
    """A configuration file is missing or does not match its schema."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(StrictModel):
    """Where a built-in dataset's raw files are and how to turn them into a snapshot."""

    name: str
    loader: Literal["dblp"]
    raw_dir: Path = Field(description="Raw files, relative to the project root unless absolute.")
    target_type: str
    num_classes: int = Field(gt=1)
    split: str = Field(description="Which published split to use; the loader lists the choices.")
    split_seed: int = Field(0, description="Seed for loaders that must cut train/val themselves.")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    class_names: list[str] = []

    def resolved_raw_dir(self) -> Path:
        return self.raw_dir if self.raw_dir.is_absolute() else PROJECT_ROOT / self.raw_dir


class GraphConfig(StrictModel):
    """How a snapshot becomes a DGL heterograph."""

    add_reverse_edges: bool = True
    featureless_embedding_dim: int = Field(64, gt=0, description="Learned embedding width for types without features.")


class OptimConfig(StrictModel):
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_epochs: int = Field(200, gt=0)
    patience: int = Field(50, gt=0, description="Stop after this many epochs without a better val accuracy.")


class TeacherConfig(StrictModel):
    model: Literal["rgcn"] = "rgcn"
    hidden_dim: int = Field(128, gt=0)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    self_loop: bool = Field(False, description="R-GCN's self-connection W_0 (absent in the HG2M reference).")
    optim: OptimConfig = OptimConfig()


class StudentConfig(StrictModel):
    """One student. `mlp` learns from hard labels only; `hg2m` from the teacher's soft labels."""

    name: str
    method: Literal["mlp", "hg2m"]
    hidden_dim: int = Field(128, gt=0)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    norm: Literal["none", "batch", "layer"] = "none"
    lambda_ce: float = Field(0.0, ge=0, le=1, description="Weight of the hard-label CE term (HG2M's lambda).")
    temperature: float = Field(1.0, gt=0, description="KD temperature tau (1 in the HG2M reference).")
    optim: OptimConfig = OptimConfig(max_epochs=1000)


class TrackingConfig(StrictModel):
    """Where runs and models go. Empty URIs mean the embedded stores inside the project folder."""

    mlflow_tracking_uri: str = ""
    experiment_prefix: str = "hg2m"
    registered_model_prefix: str = "hg2m"


class RunConfig(StrictModel):
    dataset: DatasetConfig
    graph: GraphConfig = GraphConfig()
    teacher: TeacherConfig = TeacherConfig()
    students: list[StudentConfig]
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    enable_cache: bool = True
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _students_unique(self) -> "RunConfig":
        names = [s.name for s in self.students]
        if not names:
            raise ValueError("at least one student is required")
        if len(set(names)) != len(names):
            raise ValueError(f"student names must be unique, got {names}")
        return self

    @property
    def experiment_name(self) -> str:
        return f"{self.tracking.experiment_prefix}-distill-{self.dataset.name}"

    @property
    def registered_model_name(self) -> str:
        return f"{self.tracking.registered_model_prefix}-{self.dataset.name}"


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping, with errors that name the file."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def dataset_config_path(name: str) -> Path:
    path = CONFIG_DIR / "datasets" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONFIG_DIR / "datasets").glob("*.yaml"))
        raise ConfigError(f"unknown dataset {name!r}: no {path} (known: {', '.join(known)})")
    return path


def set_nested(data: dict | list, dotted_key: str, value: object) -> None:
    """Set `data['a']['b'] = value` for the key 'a.b'; a `*` segment applies to every list item."""
    head, _, rest = dotted_key.partition(".")
    if head == "*":
        if not isinstance(data, list):
            raise ConfigError(f"override {dotted_key!r}: '*' applies to lists only")
        for item in data:
            set_nested(item, rest, value)
    elif not rest:
        data[head] = value
    else:
        set_nested(data.setdefault(head, {}), rest, value)


def load_run_config(
    pipeline_config: Path, dataset: str | None = None, overrides: dict[str, object] | None = None
) -> RunConfig:
    """Load a pipeline config, attach its dataset config, apply dotted-key overrides, validate."""
    data = read_yaml(pipeline_config)
    dataset_name = dataset or data.pop("dataset_name", None)
    data.pop("dataset_name", None)
    if not dataset_name:
        raise ConfigError(f"{pipeline_config}: no dataset given (pass --dataset or set dataset_name)")
    data["dataset"] = read_yaml(dataset_config_path(dataset_name))
    for key, value in (overrides or {}).items():
        set_nested(data, key, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{pipeline_config} (dataset {dataset_name!r}): invalid configuration:\n{err}") from err
