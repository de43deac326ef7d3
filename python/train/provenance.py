"""Where a training stage or export came from: package versions, git commit, host, time."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_commit", "package_versions", "provenance"]

_PACKAGES = (
    "egenerator",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "numpy",
    "scipy",
    "h5py",
    "pyyaml",
)


def package_versions() -> dict[str, str]:
    """Installed versions of egenerator and its main dependencies (absent ones left out)."""
    import tensorflow as tf

    from .. import __version__

    versions = {
        "python": platform.python_version(),
        "egenerator": __version__,
        "tensorflow": tf.__version__,
    }
    for name in _PACKAGES[1:]:
        if name in versions:
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``path`` (default: this package).

    Returns None where git or the repository is unavailable (e.g. an installed wheel). A
    ``+dirty`` suffix marks uncommitted changes to tracked files.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = commit.stdout.strip() or None
    if sha and status.returncode == 0 and status.stdout.strip():
        sha += "+dirty"
    return sha


def provenance() -> dict[str, Any]:
    """Versions, git commit, host and UTC time, as plain data."""
    return {
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "package_versions": package_versions(),
    }
