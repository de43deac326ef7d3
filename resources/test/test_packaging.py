"""The package layout: every sub-package is installed, and only icetray/ imports icecube."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "python"


def _declared_packages() -> set[str]:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return set(tomllib.load(handle)["tool"]["setuptools"]["packages"])


def _absolute_imports(path: Path, top: str) -> list[int]:
    """Line numbers of real import statements (not docstring examples) of package `top`."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == top or name.startswith(top + ".") for name in names):
            lines.append(node.lineno)
    return lines


def test_every_subpackage_is_declared():
    found = {"egenerator"}
    for init in PACKAGE_DIR.rglob("__init__.py"):
        rel = init.parent.relative_to(PACKAGE_DIR)
        if rel.parts:
            found.add("egenerator." + ".".join(rel.parts))
    assert found == _declared_packages()


def test_only_icetray_imports_icecube():
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        if "icetray" in path.relative_to(PACKAGE_DIR).parts:
            continue
        if _absolute_imports(path, "icecube"):
            offenders.append(str(path))
    assert offenders == []


def test_relative_imports_only():
    offenders = [str(p) for p in PACKAGE_DIR.rglob("*.py") if _absolute_imports(p, "egenerator")]
    assert offenders == []
