"""The package layout: every sub-package is installed, and only icetray/ imports icecube."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "python"


def _declared_packages() -> set[str]:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return set(tomllib.load(handle)["tool"]["setuptools"]["packages"])


def test_every_subpackage_is_declared():
    found = {"egenerator"}
    for init in PACKAGE_DIR.rglob("__init__.py"):
        rel = init.parent.relative_to(PACKAGE_DIR)
        if rel.parts:
            found.add("egenerator." + ".".join(rel.parts))
    assert found == _declared_packages()


def test_only_icetray_imports_icecube():
    pattern = re.compile(r"^\s*(from|import)\s+icecube\b", re.MULTILINE)
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        if "icetray" in path.relative_to(PACKAGE_DIR).parts:
            continue
        if pattern.search(path.read_text()):
            offenders.append(str(path))
    assert offenders == []


def test_relative_imports_only():
    pattern = re.compile(r"^\s*(from|import)\s+egenerator\b", re.MULTILINE)
    offenders = [
        str(p) for p in PACKAGE_DIR.rglob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == []
