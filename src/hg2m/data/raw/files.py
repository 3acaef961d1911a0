"""Checks shared by the raw loaders: every error names the raw file it is about."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hg2m.config import DatasetConfig
from hg2m.data.snapshot import (
    LABELLED_SPLITS,
    UNSPLIT,
    GraphSnapshot,
    RelationInfo,
    SnapshotManifest,
    edge_table,
    node_table,
)


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


def cut_train_val(train_val: np.ndarray, test: np.ndarray, num_nodes: int, seed: int,
                  val_fraction: float) -> np.ndarray:
    """HGB's protocol: its labelled train ids are cut into train and validation (`val_fraction` of them, by a
    permutation seeded with `seed`); the test ids are the test part; other nodes get UNSPLIT."""
    shuffled = np.random.default_rng(seed).permutation(train_val)
    n_val = int(round(len(shuffled) * val_fraction))
    split = np.full(num_nodes, UNSPLIT, dtype=object)
    for part, ids in zip(LABELLED_SPLITS, (shuffled[n_val:], shuffled[:n_val], test)):  # train, val, test
        split[ids] = part
    return split


def heco_split(folder: Path, split: str, num_nodes: int) -> np.ndarray:
    """HeCo's few-label splits: train/val/test from `<part>_<split>.npy` (e.g. train_20.npy); targets in none of
    them get UNSPLIT (their label is kept)."""
    paths = {part: require(folder / f"{part}_{split}.npy") for part in LABELLED_SPLITS}
    return split_column(num_nodes, {part: np.load(path, allow_pickle=False) for part, path in paths.items()}, paths)


def assemble_snapshot(
    config: DatasetConfig, target_type: str, node_counts: dict[str, int], features: dict, labels: np.ndarray,
    split: np.ndarray, relations: dict[str, tuple[str, str, np.ndarray]],
) -> GraphSnapshot:
    """A snapshot from a loader's parts: node counts, features per type (types without any absent), the target's
    labels and split, and relation name -> (source type, destination type, (E, 2) local-id pairs)."""
    nodes, infos = {}, {}
    for node_type, count in node_counts.items():
        is_target = node_type == target_type
        nodes[node_type], infos[node_type] = node_table(
            count, features.get(node_type), labels if is_target else None, split if is_target else None
        )
    edges = {name: edge_table(pairs[:, 0], pairs[:, 1]) for name, (_, _, pairs) in relations.items()}
    relation_infos = [RelationInfo(name=name, src_type=src, dst_type=dst, num_edges=len(pairs))
               for name, (src, dst, pairs) in relations.items()]
    manifest = SnapshotManifest(name=config.name, target_type=target_type, num_classes=config.num_classes,
                                multi_label=config.multi_label,
                                class_names=config.class_names, node_types=infos, relations=relation_infos)
    return GraphSnapshot(manifest=manifest, nodes=nodes, edges=edges)
