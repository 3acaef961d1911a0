"""Checks shared by the raw loaders: every error names the raw file it is about."""

from __future__ import annotations

from pathlib import Path


def require(path: Path) -> Path:
    """The path itself, or FileNotFoundError naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"raw file missing: {path}")
    return path


def check(ok: bool, path: Path, message: str) -> None:
    """Raise ValueError naming the raw file when a documented property of it does not hold."""
    if not ok:
        raise ValueError(f"raw file {path}: {message} (see the SOURCE.md of its dataset)")
