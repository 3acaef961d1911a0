"""Checks shared by the raw loaders: every error names the raw file it is about."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hg2m.config import DatasetConfig
from hg2m.data.snapshot import UNSPLIT


def require(path: Path) -> Path:
    """The path itself, or FileNotFoundError naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"raw file missing: {path}")
    return path


def check(ok: bool, path: Path, message: str) -> None:
    """Raise ValueError naming the raw file when a documented property of it does not hold."""
    if not ok:
        raise ValueError(f"raw file {path}: {message} (see the SOURCE.md of its dataset)")


def check_config(config: DatasetConfig, dataset: str, splits: tuple[str, ...], target_type: str) -> None:
    """The dataset config asks for a split this loader has, on the type that carries the labels."""
    if config.split not in splits:
        raise ValueError(f"{dataset} split {config.split!r} is not one of {splits}")
    if config.target_type != target_type:
        raise ValueError(f"{dataset} labels are on {target_type!r} nodes, but target_type is {config.target_type!r}")


def split_column(num_nodes: int, part_ids: dict[str, np.ndarray], sources: dict[str, Path]) -> np.ndarray:
    """(num_nodes,) split names from each part's node ids (read from `sources[part]`); nodes in no part
    get UNSPLIT. The published parts are disjoint, and an overlap would silently move nodes between
    parts, so it is an error naming the part's file."""
    assigned = np.full(num_nodes, UNSPLIT, dtype=object)
    for part, ids in part_ids.items():
        check(bool(np.all(assigned[ids] == UNSPLIT)), sources[part], f"{part} ids overlap another split part")
        assigned[ids] = part
    return assigned
