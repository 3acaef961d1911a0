"""Where the project and its configs are, and the error every config problem is reported as."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "configs"


class ConfigError(ValueError):
    """A configuration file is missing or does not match its schema."""
