"""Imports point one way: pipelines -> steps -> hg2m, and inside hg2m models never reach up into distillation
or training. Read from the source with `ast`, so a new upward import fails here, not in a later cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hg2m"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imports_under(folder: Path) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imported_modules(p) for p in sorted(folder.rglob("*.py"))}


def offenders(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for file, modules in imports_under(folder).items():
        bad = sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[file] = bad
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [
    (PACKAGE, ("steps", "pipelines", "zenml", "benchmarks")),
    (PACKAGE / "models", ("hg2m.distill", "hg2m.student", "hg2m.teacher", "hg2m.plan")),
    (PACKAGE / "distill", ("hg2m.student", "hg2m.teacher")),
    (PACKAGE / "graphs", ("hg2m.distill", "hg2m.models", "hg2m.student", "hg2m.teacher")),
    (PACKAGE / "data", ("hg2m.distill", "hg2m.models", "hg2m.plan", "hg2m.contracts", "hg2m.student", "hg2m.teacher")),
    (PACKAGE / "config", ("hg2m.plan", "hg2m.contracts", "hg2m.models", "hg2m.distill")),
    (ROOT / "steps", ("pipelines", "benchmarks")),
])
def test_no_upward_imports(folder, forbidden):
    assert offenders(folder, forbidden) == {}


def test_the_checker_sees_imports_at_any_depth(tmp_path):
    (tmp_path / "m.py").write_text("import torch\n\ndef f():\n    from hg2m.student import train_student\n")
    assert imported_modules(tmp_path / "m.py") == {"torch", "hg2m.student"}
