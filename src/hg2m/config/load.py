"""YAML files to validated configs: reading, named configs, dotted-key overrides, snapshot datasets.

The pipeline file (`configs/pipelines/distill.yaml`) names the teacher, the students and the training
settings; the dataset file (`configs/datasets/<name>.yaml`) says where the raw files are and how to read
them; the teacher file (`configs/teachers/<name>.yaml`) holds that teacher's settings. A snapshot folder's
manifest can stand in for the dataset file. The CLI overrides single values on top.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from hg2m.config.paths import CONFIG_DIR, ConfigError
from hg2m.config.schema import TEACHER_NAMES, RunConfig, SyntheticGraphConfig
from hg2m.data.snapshot import MANIFEST_FILE, SnapshotError, read_manifest


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
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except SnapshotError as err:
        problem = "no manifest.json" if not (folder / MANIFEST_FILE).is_file() else str(err)
        raise ConfigError(f"snapshot {folder}: {problem} (a snapshot folder holds manifest.json, nodes/ and "
                          "edges/; see docs/snapshot-format.md)") from err
    facts = {"name": manifest.name, "target_type": manifest.target_type, "num_classes": manifest.num_classes,
             "multi_label": manifest.multi_label}
    for key in ("target_type", "num_classes", "multi_label"):
        if key in base and base[key] != facts[key]:
            raise ConfigError(f"{folder / MANIFEST_FILE}: {key} is {facts[key]!r}, but dataset {base['name']!r} "
                              f"has {base[key]!r}")
    # a new snapshot of a known dataset keeps that dataset's name (and so its registered model)
    return {"class_names": manifest.class_names, **base, **facts, "name": base.get("name", facts["name"]),
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


def dataset_config_path(dataset: str) -> Path:
    """A dataset YAML given as a path (ends in .yaml/.yml or has a folder in it), else a name under configs/datasets/."""
    if dataset.endswith((".yaml", ".yml")) or "/" in dataset:
        return Path(dataset)
    return named_config_path("dataset", dataset)


def select_students(data: dict, names: list[str], source: Path) -> None:
    """Keep only the named students of the (unvalidated) config, from its `students` and `ablations`, in config
    order; unknown names are an error."""
    candidates = [s for s in data.get("students", []) + data.get("ablations", []) if isinstance(s, dict)]
    known = [s.get("name") for s in candidates]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"unknown students {unknown}: {source} defines {known}")
    data["students"] = [s for s in candidates if s.get("name") in names]


AUTO_TEACHER = "auto"
TEACHER_KEY = "teacher."  # an override of teacher.X applies to every teacher candidate


def teacher_settings(choice: str | dict, data: dict, candidates: list[str] | None = None) -> list[dict]:
    """The settings of the teachers to train: the named teacher (configs/teachers/<name>.yaml), an inline mapping,
    or for `auto` every candidate (`candidates`, else the dataset's `teacher_candidates`, else the pipeline
    config's, else every teacher), each with the dataset's `teacher_overrides` applied."""
    if candidates and choice != AUTO_TEACHER:
        raise ConfigError(f"--teacher-candidates applies to --teacher {AUTO_TEACHER}, not to teacher {choice!r}")
    if isinstance(choice, dict):
        return [choice]
    names = [choice]
    if choice == AUTO_TEACHER:
        names = (candidates or data["dataset"].get("teacher_candidates") or data.get("teacher_candidates")
                 or list(TEACHER_NAMES))
    teachers = [read_yaml(named_config_path("teacher", name)) for name in names]
    overrides = data["dataset"].get("teacher_overrides", {})
    for settings in teachers:
        for key, value in flatten_keys(overrides.get(settings.get("model"), {})):
            set_nested(settings, key, value)
    return teachers


def load_run_config(
    pipeline_config: Path, dataset: str | None = None, overrides: dict[str, object] | None = None,
    teacher: str | None = None, snapshot: Path | None = None, students: list[str] | None = None,
    teacher_candidates: list[str] | None = None,
) -> RunConfig:
    """Load a pipeline config, attach its dataset config (a name under configs/datasets/ or a YAML path) and its
    teacher configs (`teacher: <name>` names configs/teachers/<name>.yaml, `teacher: auto` every candidate;
    `teacher` here replaces it), keep only `students` if given (from the config's students and ablations), apply dotted-key overrides (`teacher.X` applies to
    every candidate), and validate once, with every choice applied.

    With `snapshot` (a snapshot folder), the data comes from that folder; `dataset`, if given, still
    supplies the name, meta-paths and teacher settings (e.g. a newer snapshot of DBLP). Meta-paths, when none
    are configured, are derived from the graph's schema by hg2m.plan.plan_run."""
    data = read_yaml(pipeline_config)
    default_dataset = data.pop("dataset_name", None)
    dataset_name = dataset or (None if snapshot else default_dataset)
    if not dataset_name and snapshot is None:
        raise ConfigError(f"{pipeline_config}: no dataset given (pass --dataset or set dataset_name)")
    data["dataset"] = read_yaml(dataset_config_path(dataset_name)) if dataset_name else {}
    if students:
        select_students(data, students, pipeline_config)
    if snapshot is not None:
        data["dataset"] = snapshot_dataset(Path(snapshot), data["dataset"])
    data["teachers"] = teacher_settings(teacher or data.get("teacher", AUTO_TEACHER), data, teacher_candidates)
    for key in ("teacher", "teacher_candidates", "ablations"):
        data.pop(key, None)
    for key, value in (overrides or {}).items():
        if key.startswith(TEACHER_KEY):
            key = "teachers.*." + key.removeprefix(TEACHER_KEY)
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
