"""Loaders that turn a built-in dataset's raw public files into a `GraphSnapshot`."""

import hashlib
from collections.abc import Callable
from pathlib import Path

from hg2m.config import DatasetConfig
from hg2m.data.facts import GraphFacts, folder_facts, snapshot_facts
from hg2m.data.raw.acm import load_acm
from hg2m.data.raw.aminer import load_aminer
from hg2m.data.raw.dblp import load_dblp
from hg2m.data.raw.hgb import load_hgb
from hg2m.data.raw.imdb import load_imdb
from hg2m.data.snapshot import GraphSnapshot, read_snapshot, verified_content_hash, with_hash


def load_snapshot_folder(config: DatasetConfig) -> GraphSnapshot:
    """A user's snapshot folder, read as it is. Its content hash is not recomputed here: the pipeline's
    cache key, `source_fingerprint`, checked it against the manifest before the run started."""
    return read_snapshot(config.resolved_raw_dir(), verify_hash=False)


LOADERS: dict[str, Callable[[DatasetConfig], GraphSnapshot]] = {
    "snapshot": load_snapshot_folder, "dblp": load_dblp, "acm": load_acm, "imdb": load_imdb, "aminer": load_aminer,
    "hgb": load_hgb,
}


def load_raw_dataset(config: DatasetConfig) -> GraphSnapshot:
    """Read a built-in dataset's raw files into a snapshot (content hash filled in)."""
    return with_hash(LOADERS[config.loader](config))


def dataset_facts(config: DatasetConfig) -> GraphFacts:
    """The graph's schema and split sizes: a snapshot folder's from its manifest and split column, a built-in
    dataset's by loading its raw files (a second or less for the shipped ones)."""
    if config.loader == "snapshot":
        return folder_facts(config.resolved_raw_dir())
    return snapshot_facts(LOADERS[config.loader](config), str(config.resolved_raw_dir()))


def source_fingerprint(config: DatasetConfig) -> str:
    """What identifies a dataset's source data (the pipeline's cache key for ingesting it): a snapshot
    folder's verified content hash, or a hash of a built-in dataset's raw files."""
    if config.loader == "snapshot":
        return verified_content_hash(config.resolved_raw_dir())
    return fingerprint_files(config.resolved_raw_dir())


def fingerprint_files(folder: Path) -> str:
    """sha256 over every file's relative path and bytes under `folder`: changes when any raw file does."""
    if not folder.is_dir():
        raise FileNotFoundError(f"raw data folder not found: {folder}")
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
