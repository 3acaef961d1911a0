"""Typed configuration: YAML files under `configs/` loaded into pydantic models.

A run is described by one `RunConfig`: the pipeline file (`configs/pipelines/distill.yaml`) names the
teacher, the students and the training settings; the dataset file (`configs/datasets/<name>.yaml`)
says where the raw files are and how to read them. The CLI overrides single values on top.
"""

from __future__ import annotations

import json
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
    loader: Literal["dblp", "acm", "imdb", "snapshot"]
    raw_dir: Path = Field(description="Raw files, relative to the project root unless absolute.")
    target_type: str
    num_classes: int = Field(gt=1)
    split: str = Field(description="Which published split to use; the loader lists the choices.")
    split_seed: int = Field(0, description="Seed for loaders that must cut train/val themselves.")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    class_names: list[str] = []
    metapaths: dict[str, list[str]] = Field(
        default_factory=dict, description="Meta-paths from the target type back to it, as node-type sequences."
    )
    teacher_overrides: dict[str, dict] = Field(
        default_factory=dict, description="Teacher name -> settings that replace that teacher's defaults on "
        "this dataset (applied before CLI overrides)."
    )

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


class SamplingConfig(StrictModel):
    """Mini-batch training with DGL neighbour sampling (for graphs too large for full batch)."""

    enabled: bool = Field(False, description="Off: full-batch training on the whole graph.")
    fanouts: list[int] = Field([10, 15], min_length=1, description="Neighbours per relation and layer, input "
                               "layer first (-1 = all); one entry per teacher layer.")
    batch_size: int = Field(1024, gt=0, description="Training target nodes per mini-batch.")
    inference_fanouts: list[int] | None = Field(None, description="Neighbours per relation and layer when "
                                                "predicting (validation, soft labels); default: `fanouts`.")
    inference_batch_size: int = Field(4096, gt=0, description="Target nodes per inference batch.")

    @property
    def predict_fanouts(self) -> list[int]:
        return self.inference_fanouts or self.fanouts


TeacherName = Literal["rgcn", "han", "simplehgn", "hgt"]


class TeacherConfig(StrictModel):
    """The HGNN teacher. Shared fields first; the rest are read only by the teachers named in their text."""

    model: TeacherName = "rgcn"
    hidden_dim: int = Field(128, gt=0, description="Hidden width (per head for the attention teachers).")
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1, description="Feature dropout.")
    self_loop: bool = Field(False, description="rgcn: R-GCN's self-connection W_0 (absent in the HG2M reference).")
    num_heads: int = Field(8, ge=1, description="han, simplehgn, hgt: attention heads.")
    attn_dropout: float = Field(0.0, ge=0, lt=1, description="han, simplehgn: dropout on attention weights.")
    negative_slope: float = Field(0.2, gt=0, description="han, simplehgn: LeakyReLU slope of the attention.")
    edge_dim: int = Field(64, gt=0, description="simplehgn: width of the learned edge-type embedding.")
    edge_residual: float = Field(0.05, ge=0, le=1, description="simplehgn: beta, share of the previous "
                                 "layer's attention kept (edge residual).")
    metapath_max_neighbours: int = Field(50, gt=0, description="han: each node's top-k meta-path neighbours "
                                         "by path count (keeps dense meta-paths such as A-P-V-P-A bounded).")
    sampling: SamplingConfig = SamplingConfig()
    optim: OptimConfig = OptimConfig()

    @model_validator(mode="after")
    def _fanouts_match_layers(self) -> "TeacherConfig":
        for name in ("fanouts", "inference_fanouts"):
            fanouts = getattr(self.sampling, name)
            if self.sampling.enabled and fanouts is not None and len(fanouts) != self.num_layers:
                raise ValueError(f"sampling.{name} has {len(fanouts)} entries for {self.num_layers} layers: "
                                 "give one fanout per layer")
        return self


StudentMethod = Literal["mlp", "hg2m", "hg2m_plus", "hire", "hg2m_plus_hire"]


class StudentConfig(StrictModel):
    """One student (see README, Method): every method is an MLP on the target features at inference.

    mlp: hard labels only. hg2m: soft labels on every observed node. hg2m_plus: reliable node
    distillation and reliable meta-path distillation (each switchable, for ablations). hire:
    node-level KD plus relation-level KD. hg2m_plus_hire: both.
    """

    name: str
    method: StudentMethod
    hidden_dim: int = Field(128, gt=0)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    norm: Literal["none", "batch", "layer"] = "none"
    lambda_ce: float = Field(0.0, ge=0, le=1, description="Weight of the hard-label CE term (HG2M's lambda).")
    temperature: float = Field(1.0, gt=0, description="KD temperature tau (1 in the HG2M reference).")
    reliable_nodes: bool = Field(True, description="HG2M+: distil reliable nodes only (off: every observed node).")
    gamma: float = Field(0.0, ge=0, description="HG2M+: weight of the reliable meta-path term (0 = off).")
    metapaths: list[str] | None = Field(None, description="HG2M+: meta-paths to use (default: all of the dataset's).")
    hire_beta: float = Field(1.0, ge=0, description="HIRE: weight of the relation-level term.")
    hire_tau: float = Field(1.0, gt=0, description="HIRE: temperature of the relation (similarity) softmax.")
    hire_batch_size: int = Field(256, gt=0, description="HIRE: target nodes per relation-level batch.")
    hire_max_neighbours: int = Field(512, gt=0, description="HIRE: sampled neighbours per node type and batch.")
    optim: OptimConfig = OptimConfig(max_epochs=1000)

    @property
    def uses_teacher(self) -> bool:
        return self.method != "mlp"

    @property
    def uses_reliability(self) -> bool:
        return self.method in ("hg2m_plus", "hg2m_plus_hire")

    @property
    def uses_relations(self) -> bool:
        return self.method in ("hire", "hg2m_plus_hire")


class MetaPathConfig(StrictModel):
    max_per_node: int = Field(50, gt=0, description="Keep each node's top-k meta-path neighbours by path count.")
    min_count: int = Field(1, ge=1, description="Minimum number of path instances for a candidate pair.")


class EvaluationConfig(StrictModel):
    """Settings and seeds (GLNN protocol): every model is trained and scored per setting and seed."""

    settings: list[Literal["transductive", "inductive"]] = ["transductive", "inductive"]
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    inductive_fraction: float = Field(0.2, gt=0, lt=1, description="Share of test nodes held out (inductive).")
    reliable_ratio: float = Field(0.9, gt=0, le=1, description="HG2M+'s p: share of unlabelled nodes kept.")


class PromotionConfig(StrictModel):
    """The retrain gate: the challenger takes `champion` only when it is better by more than `margin`."""

    margin: float = Field(0.005, ge=-1, le=1, description="Required gain in test Micro-F1 on the new snapshot.")


class SyntheticGraphConfig(StrictModel):
    """An IGB-like heterogeneous graph (papers are the target type), for scale tests and benchmarks.

    Node types: paper, author, institute, field; relations: cites (paper->paper), written_by
    (paper->author), affiliated_with (author->institute), has_topic (paper->field). Every paper has a
    class; authors and fields have a home class. An edge goes to a node of the source paper's class with
    probability `homophily` (else to any node), chosen by a power-law popularity, so in-degrees are
    heavy-tailed; citation out-degrees are Zipf-distributed. Features are class centroids plus noise.
    """

    name: str = "igb-synth"
    seed: int = 0
    num_papers: int = Field(1_000_000, gt=0, description="Target nodes.")
    num_classes: int = Field(19, gt=1)
    class_imbalance: float = Field(0.5, ge=0, description="Class c has prior weight (c+1)^-x (0: balanced).")
    authors_per_paper: float = Field(0.5, gt=0, description="Number of authors = this x num_papers.")
    institutes_per_paper: float = Field(0.01, gt=0)
    fields_per_paper: float = Field(0.02, gt=0)
    paper_feature_dim: int = Field(128, gt=0)
    side_feature_dim: int = Field(32, gt=0, description="Feature width of authors and fields (institutes have none).")
    clusters_per_class: int = Field(4, gt=0, description="Paper features: Gaussian sub-clusters per class.")
    feature_noise: float = Field(3.0, ge=0, description="Std of the per-dimension noise around unit-variance centroids.")
    homophily: float = Field(0.8, ge=0, le=1, description="Share of edges that go to the paper's own class.")
    popularity_exponent: float = Field(0.7, ge=0, description="Node of popularity rank r is chosen with weight r^-x.")
    citation_exponent: float = Field(2.0, gt=1, description="Citation out-degree ~ Zipf(x), capped at max_citations.")
    max_citations: int = Field(100, gt=0)
    mean_extra_authors: float = Field(1.5, ge=0, description="Authors per paper: 1 + Poisson(this).")
    mean_extra_fields: float = Field(2.0, ge=0, description="Fields per paper: 1 + Poisson(this).")
    train: int = Field(20_000, gt=0, description="Labelled papers in the train split (the rest of the labels "
                       "are hidden: label -1, split none).")
    val: int = Field(5_000, gt=0)
    test: int = Field(50_000, gt=0)
    chunk_size: int = Field(100_000, gt=0, description="Nodes generated and written per chunk (bounds memory).")

    @model_validator(mode="after")
    def _splits_fit(self) -> "SyntheticGraphConfig":
        if self.train + self.val + self.test > self.num_papers:
            raise ValueError(f"train + val + test = {self.train + self.val + self.test} exceeds num_papers "
                             f"= {self.num_papers}")
        return self


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
    metapath: MetaPathConfig = MetaPathConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    enable_cache: bool = True
    promotion: PromotionConfig = PromotionConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _students_unique(self) -> "RunConfig":
        names = [s.name for s in self.students]
        if not names:
            raise ValueError("at least one student is required")
        if len(set(names)) != len(names):
            raise ValueError(f"student names must be unique, got {names}")
        for student in self.students:
            if student.uses_reliability and student.gamma > 0 and not self.dataset.metapaths:
                raise ValueError(f"student {student.name!r} uses meta-path distillation (gamma > 0), but dataset "
                                 f"{self.dataset.name!r} defines no meta-paths: pass --dataset NAME for a config "
                                 "with `metapaths`, or leave that student out (--students)")
            unknown = set(student.metapaths or []) - set(self.dataset.metapaths)
            if unknown:
                raise ValueError(f"student {student.name!r}: unknown meta-paths {sorted(unknown)}")
        return self

    @property
    def registration_setting(self) -> str:
        """Models registered come from this setting: transductive (trained on the most data) when run."""
        settings = self.evaluation.settings
        return "transductive" if "transductive" in settings else settings[0]

    def runs(self) -> list[tuple[str, int]]:
        """Every (setting, seed) pair a model is trained for."""
        return [(setting, seed) for setting in self.evaluation.settings for seed in self.evaluation.seeds]

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


def named_config_path(kind: str, name: str) -> Path:
    """configs/<kind>s/<name>.yaml (kind: dataset or teacher), with an error listing the known names."""
    folder = CONFIG_DIR / f"{kind}s"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"unknown {kind} {name!r}: no {path} (known: {', '.join(known)})")
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


def snapshot_dataset(folder: Path, base: dict) -> dict:
    """A dataset config that reads a snapshot folder, from its manifest (on top of `base`, if any)."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(f"snapshot {folder}: no manifest.json (a snapshot folder holds manifest.json, "
                          "nodes/ and edges/; see the README, 'The snapshot format')")
    try:
        manifest = json.loads(manifest_path.read_text())
        facts = {k: manifest[k] for k in ("name", "target_type", "num_classes")}
    except (ValueError, KeyError) as err:
        raise ConfigError(f"{manifest_path}: not a snapshot manifest: {err!r}") from err
    for key in ("target_type", "num_classes"):
        if key in base and base[key] != facts[key]:
            raise ConfigError(f"{manifest_path}: {key} is {facts[key]!r}, but dataset {base['name']!r} has "
                              f"{base[key]!r}")
    # a new snapshot of a known dataset keeps that dataset's name (and so its registered model)
    return {"class_names": manifest.get("class_names", []), **base, **facts, "name": base.get("name", facts["name"]),
            "loader": "snapshot", "raw_dir": str(folder.resolve()), "split": "given"}


def flatten_keys(mapping: dict, prefix: str = "") -> list[tuple[str, object]]:
    """{'optim': {'lr': 1}} -> [('optim.lr', 1)]: nested settings as dotted-key overrides."""
    items = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            items += flatten_keys(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def load_run_config(
    pipeline_config: Path, dataset: str | None = None, overrides: dict[str, object] | None = None,
    teacher: str | None = None, snapshot: Path | None = None,
) -> RunConfig:
    """Load a pipeline config, attach its dataset config and its teacher config (`teacher: <name>` names
    configs/teachers/<name>.yaml; `teacher` here replaces it), apply dotted-key overrides, validate.

    With `snapshot` (a snapshot folder), the data comes from that folder; `dataset`, if given, still
    supplies the name, meta-paths and teacher settings (e.g. a newer snapshot of DBLP)."""
    data = read_yaml(pipeline_config)
    default_dataset = data.pop("dataset_name", None)
    dataset_name = dataset or (None if snapshot else default_dataset)
    if not dataset_name and snapshot is None:
        raise ConfigError(f"{pipeline_config}: no dataset given (pass --dataset or set dataset_name)")
    data["dataset"] = read_yaml(named_config_path("dataset", dataset_name)) if dataset_name else {}
    if snapshot is not None:
        data["dataset"] = snapshot_dataset(Path(snapshot), data["dataset"])
    teacher = teacher or data.get("teacher", "rgcn")
    if isinstance(teacher, str):
        data["teacher"] = read_yaml(named_config_path("teacher", teacher))
    for key, value in flatten_keys(data["dataset"].get("teacher_overrides", {}).get(data["teacher"].get("model"), {})):
        set_nested(data, f"teacher.{key}", value)
    for key, value in (overrides or {}).items():
        set_nested(data, key, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{pipeline_config} (dataset {dataset_name or snapshot}): invalid configuration:\n{err}") from err


def load_synthetic_config(path: Path, overrides: dict[str, object] | None = None) -> SyntheticGraphConfig:
    """A synthetic-graph YAML (configs/synthetic/) with flag overrides on top, validated."""
    data = {**read_yaml(path), **(overrides or {})}
    try:
        return SyntheticGraphConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid synthetic graph configuration:\n{err}") from err
