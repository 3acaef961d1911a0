"""HGB's node-classification format (Lv et al., KDD 2021): any dataset published as HGB publishes its own.

The raw folder holds HGB's files, extracted or inside one zip as published (`ACM.zip`, with a top folder); a
file beside the zip replaces the zip's file of that name (HGB IMDB's full test labels, data/raw/hgb_imdb):
- `info.dat`: JSON naming the node types (`node.dat` -> `node type`), the link types with their start and
  end types (`link.dat` -> `link type`) and the classes (`label.dat` -> `node type`).
- `node.dat`: `id \\t name \\t type [\\t comma-separated features]`; ids are global and contiguous by type, a
  featureless type's lines have no 4th field.
- `link.dat`: `src \\t dst \\t type \\t weight` (global ids; weight 1). HGB lists both directions as separate
  link types; a link type that is exactly the reverse of an earlier one is dropped, since the graph adds
  reverse relations itself.
- `label.dat` (train and validation) and `label.dat.test` (test): `id \\t name \\t type \\t class`. HGB's
  `label.dat.test_full` holds placeholder labels (see SOURCE.md) and is not read: the test nodes with
  true labels are those of `label.dat.test`.
The only split, `hgb`, cuts `label.dat` into train and validation with `split_seed` and `val_fraction`.
Multi-label files (a comma list of classes, HGB's IMDB) need `multi_label: true` in the dataset config; each
node's set is then stored as a bitmask (hg2m.labels).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import scipy.sparse as sp

from hg2m.config import DatasetConfig
from hg2m.data.raw.files import assemble_snapshot, check, check_config, cut_train_val
from hg2m.data.snapshot import UNKNOWN_LABEL, GraphSnapshot
from hg2m.labels import encode_sets

SPLITS = ("hgb",)
SPARSE_BELOW = 0.1  # a feature matrix with fewer non-zeros than this share is stored sparse


class RawFiles:
    """HGB's files in `folder`, extracted or in the folder's one zip; `path(name)` is what errors name."""

    def __init__(self, folder: Path):
        self.folder = folder
        zips = sorted(folder.glob("*.zip"))
        self.archive = None if (folder / "info.dat").is_file() or len(zips) != 1 else zips[0]
        if self.archive is None and not (folder / "info.dat").is_file():
            raise FileNotFoundError(f"raw folder {folder}: expected HGB's files (info.dat, node.dat, ...) "
                                    f"or exactly one zip of them, found {len(zips)} zips")
        self.members = {}
        if self.archive is not None:
            with zipfile.ZipFile(self.archive) as archive:
                self.members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}

    def loose(self, name: str) -> bool:
        """Read `name` from the folder: there is no zip, or the file is beside it."""
        return self.archive is None or (self.folder / name).is_file()

    def path(self, name: str) -> Path:
        return self.folder / name if self.loose(name) else self.archive / self.members.get(name, name)

    @contextmanager
    def open(self, name: str) -> Iterator[TextIO]:
        """A text handle (universal newlines: HGB's DBLP uses CRLF), or FileNotFoundError naming the file."""
        if self.loose(name):
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"raw file missing: {self.folder / name}")
            with open(self.folder / name, encoding="utf-8") as handle:
                yield handle
            return
        if name not in self.members:
            raise FileNotFoundError(f"raw file missing: {name} in {self.archive}")
        with zipfile.ZipFile(self.archive) as archive, archive.open(self.members[name]) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8")


def relation_name(meaning: str) -> str:
    """'paper-cite-paper' -> 'paper_cite_paper', 'movie->director' -> 'movie_director'."""
    return re.sub(r"[^0-9A-Za-z]+", "_", meaning).strip("_").lower()


def read_info(files: RawFiles) -> tuple[dict[int, str], dict[int, tuple[int, int, str]]]:
    """Node type code -> name, link type code -> (start code, end code, relation name)."""
    path = files.path("info.dat")
    with files.open("info.dat") as handle:
        try:
            info = json.load(handle)
            node_types = {int(code): name for code, name in info["node.dat"]["node type"].items()}
            links = {int(code): (int(link["start"]), int(link["end"]), relation_name(link["meaning"]))
                     for code, link in info["link.dat"]["link type"].items()}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"raw file {path}: not HGB's info.dat ({error!r})") from error
    check(len({name for *_, name in links.values()}) == len(links), path, "two link types have the same meaning")
    return node_types, links


def read_nodes(files: RawFiles, node_types: dict[int, str]) -> tuple[dict[str, int], dict[str, np.ndarray], dict]:
    """Per type: the first global id, the node count, and the feature matrix (types without features absent)."""
    path = files.path("node.dat")
    codes, rows = [], {code: [] for code in node_types}
    with files.open("node.dat") as handle:
        for number, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            check(len(fields) in (3, 4), path, f"line {number + 1} has {len(fields)} fields, not 3 or 4")
            check(int(fields[0]) == number, path, f"line {number + 1}: ids must be 0, 1, 2, ... in order")
            code = int(fields[2])
            check(code in node_types, path, f"line {number + 1}: node type {code} is not in info.dat")
            codes.append(code)
            rows[code].append(fields[3] if len(fields) == 4 else None)
    codes = np.asarray(codes)
    check(bool(np.all(np.diff(codes) >= 0)), path, "node types are not in contiguous id ranges")
    starts = {node_types[c]: int(np.searchsorted(codes, c)) for c in node_types}
    counts = {node_types[c]: len(rows[c]) for c in node_types}
    features = {node_types[c]: feature_matrix(rows[c], path, node_types[c]) for c in node_types if any(rows[c])}
    return starts, counts, features


def feature_matrix(rows: list[str | None], path: Path, node_type: str) -> np.ndarray | sp.csr_matrix:
    """One type's comma-separated feature rows as a matrix, sparse when mostly zeros."""
    check(all(rows), path, f"some {node_type} nodes have features and some do not")
    matrix = np.stack([np.array(row.split(","), dtype=np.float32) for row in rows])
    return sp.csr_matrix(matrix) if np.count_nonzero(matrix) < SPARSE_BELOW * matrix.size else matrix


def read_links(files: RawFiles, links: dict[int, tuple[int, int, str]]) -> dict[int, np.ndarray]:
    """Link type code -> (E, 2) global-id pairs."""
    path = files.path("link.dat")
    with files.open("link.dat") as handle:
        table = pd.read_csv(handle, sep="\t", header=None, names=["src", "dst", "type", "weight"])
    check(set(table["type"].unique()) <= set(links), path, "a link type is not in info.dat")
    check(bool((table["weight"] == 1).all()), path, "edge weights other than 1 are not supported")
    return {code: table.loc[table["type"] == code, ["src", "dst"]].to_numpy(np.int64) for code in links}


def without_reverse_links(pairs: dict[int, np.ndarray], links: dict[int, tuple[int, int, str]]) -> list[int]:
    """The link types to keep: each one that is exactly the reverse of an earlier kept one is dropped."""
    kept = []
    for code, (start, end, _) in links.items():
        reverses = (k for k in kept if links[k][:2] == (end, start) and same_edges(pairs[k][:, ::-1], pairs[code]))
        if next(reverses, None) is None:
            kept.append(code)
    return kept


def same_edges(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(np.unique(a, axis=0), np.unique(b, axis=0)))


def read_labels(files: RawFiles, name: str, target_code: int, num_classes: int,
                multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """(global ids, labels) of one label file, on the target type and in range: classes, or with `multi_label`
    bitmasks of each node's classes."""
    path = files.path(name)
    with files.open(name) as handle:
        table = pd.read_csv(handle, sep="\t", header=None, names=["id", "name", "type", "label"], dtype=str,
                            keep_default_na=False)
    multi = table["label"].str.contains(",")
    check(multi_label or not multi.any(), path, f"row {int(multi.to_numpy().argmax()) + 1} lists several classes: "
          "multi-label data (HGB's IMDB) needs `multi_label: true` in the dataset config")
    check(bool((table["type"].astype(int) == target_code).all()), path, "labels on a type other than the target")
    numbers = table["label"].str.fullmatch(r"\d+(,\d+)*")
    check(bool(numbers.all()), path, f"row {int((~numbers).to_numpy().argmax()) + 1}: a label is a class id or a "
                                     "comma list of them")
    sets = [[int(c) for c in cell.split(",")] for cell in table["label"]]
    classes = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets]) if sets else np.zeros(0, np.int64)
    check(bool(np.all((classes >= 0) & (classes < num_classes))), path, f"classes outside 0..{num_classes - 1}")
    labels = encode_sets(sets) if multi_label else classes
    return table["id"].astype(np.int64).to_numpy(), labels


def load_hgb(config: DatasetConfig) -> GraphSnapshot:
    """Read a dataset in HGB's format into a snapshot; the target type is the config's."""
    files = RawFiles(config.resolved_raw_dir())
    node_types, links = read_info(files)
    names = {name: code for code, name in node_types.items()}
    check(config.target_type in names, files.path("info.dat"),
          f"target_type {config.target_type!r} is not a node type ({', '.join(names)})")
    check_config(config, "HGB", SPLITS, config.target_type)
    starts, counts, features = read_nodes(files, node_types)
    pairs = read_links(files, links)
    relations = {}
    for code in without_reverse_links(pairs, links):
        start, end, name = links[code]
        src, dst = node_types[start], node_types[end]
        relations[name] = (src, dst, pairs[code] - np.array([starts[src], starts[dst]]))
    target, target_code = config.target_type, names[config.target_type]
    labels = np.full(counts[target], UNKNOWN_LABEL, dtype=np.int64)
    parts = {}
    for part, name in (("train_val", "label.dat"), ("test", "label.dat.test")):
        ids, classes = read_labels(files, name, target_code, config.num_classes, config.multi_label)
        parts[part] = ids - starts[target]
        labels[parts[part]] = classes
    split = cut_train_val(parts["train_val"], parts["test"], counts[target], config.split_seed, config.val_fraction)
    return assemble_snapshot(config, target, counts, features, labels, split, relations)
