"""Crash-safe file and folder writes: write to a temporary name, fsync, rename.

A reader never sees a partly written file or folder under its final name: either the old state or
the complete new one. Temporary names start with ``.tmp-`` and are ignored by readers; a kill -9
during a write leaves only such a temporary entry behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

TEMP_PREFIX = ".tmp-"

__all__ = [
    "TEMP_PREFIX",
    "atomic_directory",
    "fsync_directory",
    "remove_stale_temporaries",
    "write_npz",
    "write_text_atomic",
    "write_yaml_atomic",
]


def fsync_directory(path: str | os.PathLike) -> None:
    """Flush a directory entry (new or renamed children) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_sibling(final: Path) -> Path:
    return final.parent / f"{TEMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file under a temporary name, fsync it, and rename it over ``path``."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary_sibling(final)
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    finally:
        if temp.exists():
            temp.unlink()
    fsync_directory(final.parent)


def dump_yaml(data: Any) -> str:
    """YAML text of plain data (dicts keep their order)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def write_yaml_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write plain data (dicts, lists, numbers, strings) as YAML, atomically."""
    write_text_atomic(path, dump_yaml(data))


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write numeric arrays into an uncompressed ``.npz`` file and fsync it (no pickled objects)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; only numeric arrays are stored")
    with open(path, "wb") as handle:
        np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_directory(dirpath)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder under a temporary name; on success fsync it and rename it to ``path``.

    ``path`` must not exist yet (a folder is never replaced, so there is no moment at which
    neither the old nor the new one exists). On an exception the temporary folder is removed.

    Yields
    ------
    Path
        The temporary folder to fill.
    """
    final = Path(path)
    if final.exists():
        raise FileExistsError(f"{final} exists already; refusing to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary_sibling(final)
    temp.mkdir()
    try:
        yield temp
        _fsync_tree(temp)
        os.rename(temp, final)
        fsync_directory(final.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete ``.tmp-*`` leftovers of interrupted writes in ``directory``; return what went."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
