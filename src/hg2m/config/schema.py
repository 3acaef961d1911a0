"""The configuration schema: pydantic models for every setting, and nothing that reads files.

A run is described by one `RunConfig` (see `hg2m.config.load` for how YAML files become one). Each
teacher has its own settings class, holding only the fields it reads; `TeacherConfig` is their union,
told apart by `model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from hg2m.config.paths import PROJECT_ROOT


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetaPath(StrictModel):
    """A path from the target type back to it, written as node types or as relations (exactly one of them).

    node_types: e.g. [author, paper, author]; each hop must be joined by exactly one relation (reverse
    relations included). relations: snapshot relation names, e.g. [paper_author, paper_author]; each is
    walked in the direction that continues the path (forward for a relation from a type to itself), so a
    path can pick one of several relations between the same two types. A plain list means node_types.
    """

    node_types: list[str] | None = Field(None, min_length=2)
    relations: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _list_is_node_types(cls, data: object) -> object:
        return {"node_types": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _exactly_one_form(self) -> Self:
        if (self.node_types is None) == (self.relations is None):
            raise ValueError("give either node_types (a list of node types) or relations, not both")
        return self

    def describe(self) -> str:
        return "-".join(self.node_types) if self.node_types else "via " + ", ".join(self.relations)


class DatasetConfig(StrictModel):
    """Where a built-in dataset's raw files are and how to turn them into a snapshot."""

    name: str
    loader: Literal["dblp", "acm", "imdb", "aminer", "hgb", "snapshot"]
    raw_dir: Path = Field(description="Raw files, relative to the project root unless absolute.")
    target_type: str
    num_classes: int = Field(gt=1)
    multi_label: bool = Field(False, description="Each target node has a set of classes (e.g. a film's genres), "
                              "not one: sigmoid outputs and binary cross-entropy (hg2m.labels).")
    split: str = Field(description="Which published split to use; the loader lists the choices.")
    split_seed: int = Field(0, description="Seed for loaders that must cut train/val themselves.")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    class_names: list[str] = []
    metapaths: dict[str, MetaPath] = Field(
        default_factory=dict, description="Meta-paths from the target type back to it (see MetaPath). A dataset "
        "without any gets them derived from the graph's schema (hg2m.config.metapaths, hg2m.plan.plan_run)."
    )
    derived_metapaths: bool = Field(False, description="Set by hg2m: the meta-paths were derived, not configured.")
    teacher_overrides: dict[str, dict] = Field(
        default_factory=dict, description="Teacher name -> settings that replace that teacher's defaults on "
        "this dataset (applied before CLI overrides)."
    )
    teacher_candidates: list[str] | None = Field(
        None, description="The teachers `teacher: auto` tries on this dataset, replacing the pipeline config's "
        "`teacher_candidates` (e.g. only the sampled RGCN on a graph too large for full-batch attention)."
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
    patience: int = Field(50, gt=0, description="Stop after this many epochs without a better val Micro-F1.")
    early_stopping: bool = Field(True, description="Stop after `patience` epochs without a better validation "
                                 "Micro-F1; off: run every epoch and keep the best (as the HG2M reference does).")


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


class TeacherBaseConfig(StrictModel):
    """What every teacher reads: its name, width, depth, dropout, sampling and optimiser settings."""

    model: str
    needs_metapaths: ClassVar[bool] = False  # runs on meta-path graphs: the dataset must define meta-paths
    needs_target_features: ClassVar[bool] = False
    trains_on_partitions: ClassVar[bool] = True  # with distributed.enabled (hg2m.distributed.teacher)
    hidden_dim: int = Field(128, gt=0, description="Hidden width (per head for the attention teachers).")
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1, description="Feature dropout.")
    sampling: SamplingConfig = SamplingConfig()
    optim: OptimConfig = OptimConfig()

    @model_validator(mode="before")
    @classmethod
    def _model_is_always_set(cls, data: object) -> object:
        """Count `model` as set even when left at its default, so that `model_dump(exclude_unset=True)` (as
        ZenML does for step parameters) keeps the tag that tells the teachers apart."""
        default = cls.model_fields["model"].default
        if isinstance(data, dict) and "model" not in data and isinstance(default, str):
            data = {**data, "model": default}
        return data

    @model_validator(mode="after")
    def _fanouts_match_layers(self) -> Self:
        for name in ("fanouts", "inference_fanouts"):
            fanouts = getattr(self.sampling, name)
            if self.sampling.enabled and fanouts is not None and len(fanouts) != self.num_layers:
                raise ValueError(f"sampling.{name} has {len(fanouts)} entries for {self.num_layers} layers: "
                                 "give one fanout per layer")
        return self


# fields read by more than one teacher: one statement of their bounds and meaning
NumHeads = Annotated[int, Field(ge=1, description="Attention heads.")]
AttnDropout = Annotated[float, Field(ge=0, lt=1, description="Dropout on attention weights.")]
NegativeSlope = Annotated[float, Field(gt=0, description="LeakyReLU slope of the attention.")]


class RGCNConfig(TeacherBaseConfig):
    """RGCN (hg2m.models.rgcn)."""

    model: Literal["rgcn"] = "rgcn"
    self_loop: bool = Field(False, description="R-GCN's self-connection W_0 (absent in the HG2M reference).")


class HANConfig(TeacherBaseConfig):
    """HAN (hg2m.models.han): meta-path GAT layers and semantic attention."""

    model: Literal["han"] = "han"
    needs_metapaths: ClassVar[bool] = True
    needs_target_features: ClassVar[bool] = True  # its meta-path GATs read only the target type's features
    trains_on_partitions: ClassVar[bool] = False  # it builds meta-path graphs of the whole graph, in one process
    num_heads: NumHeads = 8
    attn_dropout: AttnDropout = 0.0
    negative_slope: NegativeSlope = 0.2
    metapath_max_neighbours: int = Field(50, gt=0, description="Each node's top-k meta-path neighbours by path "
                                         "count (keeps dense meta-paths such as A-P-V-P-A bounded).")


class SimpleHGNConfig(TeacherBaseConfig):
    """Simple-HGN (hg2m.models.simplehgn): GAT with learned edge-type embeddings and edge residuals."""

    model: Literal["simplehgn"] = "simplehgn"
    num_heads: NumHeads = 8
    attn_dropout: AttnDropout = 0.0
    negative_slope: NegativeSlope = 0.2
    edge_dim: int = Field(64, gt=0, description="Width of the learned edge-type embedding.")
    edge_residual: float = Field(0.05, ge=0, le=1, description="beta, share of the previous layer's attention "
                                 "kept (edge residual).")


class HGTConfig(TeacherBaseConfig):
    """HGT (hg2m.models.hgt): type-specific attention with relation priors."""

    model: Literal["hgt"] = "hgt"
    num_heads: NumHeads = 8


AnyTeacherConfig = RGCNConfig | HANConfig | SimpleHGNConfig | HGTConfig
# Any teacher's settings; `model` says which. The one list of teachers: add a class to the union above.
TeacherConfig = Annotated[AnyTeacherConfig, Field(discriminator="model")]
TEACHER_NAMES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["model"].annotation)[0] for cls in get_args(AnyTeacherConfig)
)
_TEACHER_ADAPTER: TypeAdapter[AnyTeacherConfig] = TypeAdapter(TeacherConfig, config=ConfigDict(title="TeacherConfig"))


def teacher_config(data: dict) -> AnyTeacherConfig:
    """Validate a teacher's settings (a dict with `model`) into that teacher's class; raises ValidationError."""
    return _TEACHER_ADAPTER.validate_python(data)


StudentMethod = Literal["mlp", "hg2m", "hg2m_plus", "hire", "hg2m_plus_hire"]
Setting = Literal["transductive", "inductive"]  # GLNN protocol (hg2m.inductive); inductive holds out test nodes
SETTINGS: tuple[str, ...] = get_args(Setting)
TRANSDUCTIVE, INDUCTIVE = SETTINGS


InputKind = Literal["own", "own+neighbours"]


class StudentConfig(StrictModel):
    """One student (docs/method.md): every method is an MLP at inference, on the target node's own features
    (`own`) or on those plus inputs from its one-hop neighbourhood (`own+neighbours`, hg2m.student_inputs).

    mlp: hard labels only. hg2m: soft labels on every observed node. hg2m_plus: reliable node
    distillation and reliable meta-path distillation (each switchable, for ablations). hire:
    node-level KD plus relation-level KD. hg2m_plus_hire: both.
    """

    name: str
    method: StudentMethod
    inputs: InputKind | None = Field(None, description="own | own+neighbours; default: own when the target "
                                         "type has features, else own+neighbours.")
    hidden_dim: int = Field(128, gt=0)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    norm: Literal["none", "batch", "layer"] | None = Field(
        None, description="Normalisation after each hidden linear layer; default: layer for a student that distils "
        "soft labels on own+neighbours inputs (their wide, sparse rows diverge under Adam without it when the "
        "teacher's soft labels are flat), else none: a labels-only MLP trains the id columns of its few train nodes "
        "only, and layer norm would blow other nodes' small activations up to one class.")
    lambda_ce: float = Field(0.0, ge=0, le=1, description="Weight of the hard-label CE term (HG2M's lambda).")
    temperature: float = Field(1.0, gt=0, description="KD temperature tau (1 in the HG2M reference).")
    reliable_nodes: bool = Field(True, description="HG2M+: distil reliable nodes only (off: every observed node).")
    reliable_ratio: float | None = Field(None, gt=0, le=1, description="HG2M+'s p for this student (default: "
                                         "evaluation.reliable_ratio).")
    gamma: float = Field(0.0, ge=0, description="HG2M+: weight of the reliable meta-path term (0 = off).")
    metapaths: list[str] | None = Field(None, description="HG2M+: meta-paths to use (default: all of the dataset's).")
    hire_beta: float = Field(1.0, ge=0, description="HIRE: weight of the relation-level term.")
    hire_tau: float = Field(1.0, gt=0, description="HIRE: temperature of the relation (similarity) softmax.")
    hire_batch_size: int = Field(256, gt=0, description="HIRE: target nodes per relation-level batch.")
    hire_max_neighbours: int = Field(512, gt=0, description="HIRE: sampled neighbours per node type and batch.")
    batch_size: int | None = Field(None, gt=0, description="Target nodes per optimiser step (mini-batches over the "
                                   "nodes the loss covers, whose shares add up to the full-batch loss); default: full "
                                   "batch, or 65,536 when the loss covers more than `full_batch_max_nodes` nodes.")
    full_batch_max_nodes: int = Field(500_000, gt=0, description="The most loss nodes a student trains on full batch "
                                      "when `batch_size` is unset.")
    optim: OptimConfig = OptimConfig(max_epochs=1000)


class MetaPathConfig(StrictModel):
    max_per_node: int = Field(50, gt=0, description="Keep each node's top-k meta-path neighbours by path count.")
    min_count: int = Field(1, ge=1, description="Minimum number of path instances for a candidate pair.")


class StudentInputsConfig(StrictModel):
    """How `own+neighbours` inputs are built (hg2m.student_inputs)."""

    max_bag_ids: int = Field(32768, gt=0, description="The most columns of one relation's bag of neighbour ids: a "
                             "neighbour type with more nodes keeps columns for its most connected ones. Bounds the "
                             "student's first layer (hidden x columns weights) on large graphs.")


class TuningConfig(StrictModel):
    """Optuna search of each student's knobs on validation (hg2m.tuning), before it trains on every run."""

    trials: int = Field(0, ge=0, description="Trials per student (0: no search, the configured values train).")
    startup_trials: int = Field(4, ge=0, description="Trials that run to the end before any is pruned.")
    warmup_epochs: int = Field(30, ge=0, description="Epochs a trial always runs before it may be pruned.")
    max_epochs: int | None = Field(None, gt=0, description="Epoch cap of a trial (default: the student's).")
    seed: int = Field(0, description="Seed of the search (its TPE sampler).")


class EvaluationConfig(StrictModel):
    """Settings and seeds (GLNN protocol): every model is trained and scored per setting and seed."""

    settings: list[Setting] = list(SETTINGS)
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0, 1, 2], min_length=1)
    inductive_fraction: float = Field(0.2, gt=0, lt=1, description="Share of test nodes held out (inductive).")
    reliable_ratio: float = Field(0.9, gt=0, le=1, description="HG2M+'s p: share of unlabelled nodes kept.")


class DistributedConfig(StrictModel):
    """Past one machine (hg2m.distributed): the graph partitioned for DGL's distributed engine (DistDGL)."""

    enabled: bool = Field(False, description="Partition the preprocessed graph (the `partition_graph` step) into "
                          "`num_parts` parts with their node data, record the partition book, and train the teacher "
                          "on the parts with DistDGL (graph servers and DDP trainers; transductive setting only).")
    num_parts: int = Field(2, ge=1, description="Parts: one per machine that serves a part of the graph.")
    trainers_per_part: int = Field(1, ge=1, description="Trainer processes per part (machine).")
    student_processes: int = Field(1, ge=1, description="Processes that train each student data-parallel on this "
                                   "host (PyTorch DDP: gloo on the CPU, NCCL with one GPU per process); each step's "
                                   "batch is split between them and their gradients are added up, so the updates "
                                   "are one process's. 1: in the step's own process. Independent of `enabled`.")
    timeout_s: int = Field(24 * 3600, gt=0, description="The most seconds distributed training (a teacher, or a "
                           "data-parallel student's run) may take; then every process is stopped and the step fails.")
    part_method: Literal["auto", "metis", "random"] = Field(
        "auto", description="metis (balanced parts that keep neighbourhoods together; holds the whole graph in "
        "memory), random, or auto: metis up to `metis_max_edges` edges, random beyond.")
    metis_max_edges: int = Field(100_000_000, gt=0, description="The most edges `auto` gives to METIS.")


class PromotionConfig(StrictModel):
    """The retrain gate: the challenger takes `champion` only when it is at least `margin` better (MLflow's
    validation of its evaluation against the champion's; hg2m.promotion.decide)."""

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
    def _splits_fit(self) -> Self:
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
    teachers: list[TeacherConfig] = Field(
        [RGCNConfig()], min_length=1, description="The teacher, or with `teacher: auto` the candidates: each is "
        "trained on the first seed and the one with the best validation Micro-F1 teaches (hg2m.plan).")
    skipped_teachers: dict[str, str] = Field(
        default_factory=dict, description="Set by hg2m: `teacher: auto` candidates left out because they cannot "
        "run on this graph, with why (hg2m.plan.plan_run).")
    students: list[StudentConfig]
    skipped_students: dict[str, str] = Field(
        default_factory=dict, description="Set by hg2m: students left out because on this graph they would train "
        "exactly as an earlier one (e.g. own+neighbours inputs where they are the default), with why.")
    metapath: MetaPathConfig = MetaPathConfig()
    student_inputs: StudentInputsConfig = StudentInputsConfig()
    tuning: TuningConfig = TuningConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    enable_cache: bool = True
    promotion: PromotionConfig = PromotionConfig()
    tracking: TrackingConfig = TrackingConfig()
    distributed: DistributedConfig = DistributedConfig()

    @model_validator(mode="after")
    def _teachers_unique(self) -> Self:
        names = [t.model for t in self.teachers]
        if len(set(names)) != len(names):
            raise ValueError(f"teacher candidates must be distinct, got {names}")
        return self

    @property
    def selects_teacher(self) -> bool:
        """`teacher: auto` with more than one candidate: the teacher is chosen on validation during the run."""
        return len(self.teachers) > 1

    def teacher_config(self, name: str) -> AnyTeacherConfig:
        return next(t for t in self.teachers if t.model == name)

    @model_validator(mode="after")
    def _students_unique(self) -> Self:
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
