"""Training checkpoints: npz of variables + YAML metadata, written atomically, rolling retention.

Layout under ``<manager_dir>/checkpoints/``::

    ckpt-00001000/          rolling checkpoints (the newest ``keep`` are kept)
        variables.npz       model variables, optimizer variables, RNG state (numeric arrays only)
        meta.yaml           step, data position, losses, variable names/shapes, ``complete: true``
    best-00000800/          the checkpoint with the lowest validation loss so far (one folder)
    .tmp-...                a write in progress or interrupted by a crash: ignored, removed on start

Every folder is written under a ``.tmp-`` name, fsynced and renamed, so a kill -9 at any moment
leaves the previous checkpoints intact and loadable. Nothing is pickled: ``np.load`` runs with
``allow_pickle=False`` and the metadata is read with ``yaml.safe_load``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .atomic import atomic_directory, dump_yaml, remove_stale_temporaries, write_npz

CHECKPOINT_FORMAT = 1
VARIABLES_FILE = "variables.npz"
META_FILE = "meta.yaml"
_NAME = re.compile(r"^(ckpt|best)-(\d{8,})$")

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "read_checkpoint",
]


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match the model it is restored into."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on disk: its folder, kind (``ckpt`` or ``best``), step and metadata."""

    path: Path
    kind: str
    step: int
    meta: dict[str, Any]

    def load_arrays(self) -> dict[str, np.ndarray]:
        """All arrays of ``variables.npz`` (copied into memory)."""
        file = self.path / VARIABLES_FILE
        try:
            with np.load(file, allow_pickle=False) as data:
                return {key: np.array(data[key]) for key in data.files}
        except (OSError, ValueError) as err:
            raise CheckpointError(f"{file}: cannot read the checkpoint variables: {err}") from err


def read_checkpoint(path: Path) -> Checkpoint:
    match = _NAME.match(path.name)
    if match is None:
        raise CheckpointError(f"{path}: not a checkpoint folder name (ckpt-NNNNNNNN/best-NNNNNNNN)")
    meta_file = path / META_FILE
    if not meta_file.is_file() or not (path / VARIABLES_FILE).is_file():
        raise CheckpointError(
            f"{path}: incomplete checkpoint ({META_FILE} or {VARIABLES_FILE} missing)"
        )
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CheckpointError(f"{meta_file}: unreadable: {err}") from err
    if not isinstance(meta, dict) or meta.get("complete") is not True:
        raise CheckpointError(f"{meta_file}: not marked complete")
    version = meta.get("checkpoint_format")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{meta_file}: checkpoint_format {version!r} is not supported "
            f"(this version reads <= {CHECKPOINT_FORMAT})"
        )
    return Checkpoint(path=path, kind=match.group(1), step=int(match.group(2)), meta=meta)


class CheckpointStore:
    """Rolling checkpoints plus the best one, in one folder.

    Parameters
    ----------
    directory : path
        The checkpoint folder (created if needed). Leftover ``.tmp-*`` entries of interrupted
        writes are removed when the store opens.
    keep : int
        Number of rolling checkpoints to keep (the best checkpoint is kept in addition).
    """

    def __init__(self, directory: str | os.PathLike, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = int(keep)
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.directory)

    # ------------------------------------------------------------------ listing
    def _folders(self, kind: str) -> list[tuple[int, Path]]:
        found = []
        for entry in self.directory.iterdir():
            match = _NAME.match(entry.name)
            if match and match.group(1) == kind and entry.is_dir():
                found.append((int(match.group(2)), entry))
        return sorted(found)

    def checkpoints(self, kind: str = "ckpt") -> list[Checkpoint]:
        """Readable checkpoints of a kind, oldest first (unreadable ones are skipped with a warning)."""
        good = []
        for _, path in self._folders(kind):
            try:
                good.append(read_checkpoint(path))
            except CheckpointError as err:
                warnings.warn(f"skipping checkpoint: {err}", stacklevel=2)
        return good

    def latest(self) -> Checkpoint | None:
        """The newest readable rolling checkpoint, or None."""
        found = self.checkpoints("ckpt")
        return found[-1] if found else None

    def best(self) -> Checkpoint | None:
        """The readable checkpoint with the lowest validation loss, or None."""
        found = self.checkpoints("best")
        return found[-1] if found else None

    def has_any(self) -> bool:
        """Whether any checkpoint folder (readable or not) exists."""
        return bool(self._folders("ckpt") or self._folders("best"))

    # ------------------------------------------------------------------ writing
    def save(
        self,
        step: int,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any],
        kind: str = "ckpt",
    ) -> Path:
        """Write one checkpoint atomically and apply the retention rule.

        Parameters
        ----------
        step : int
            Training step the state belongs to (part of the folder name).
        arrays : mapping of str to array
            Numeric arrays (no objects).
        meta : mapping
            Plain YAML-able metadata; ``checkpoint_format``, ``step``, ``written_unix_s`` and
            ``complete`` are added.
        kind : {"ckpt", "best"}
            Rolling checkpoint or best-by-validation checkpoint (only the newest best is kept).

        Returns
        -------
        Path
            The checkpoint folder.
        """
        if kind not in ("ckpt", "best"):
            raise ValueError(f"kind must be 'ckpt' or 'best', got {kind!r}")
        final = self.directory / f"{kind}-{int(step):08d}"
        if final.exists():
            shutil.rmtree(final)  # the same step again (e.g. a final save after a periodic one)
        full_meta = {
            "checkpoint_format": CHECKPOINT_FORMAT,
            "step": int(step),
            "written_unix_s": time.time(),
            **dict(meta),
            "complete": True,
        }
        with atomic_directory(final) as temp:
            write_npz(temp / VARIABLES_FILE, arrays)
            (temp / META_FILE).write_text(dump_yaml(full_meta), encoding="utf-8")
        self._apply_retention(kind)
        return final

    def _apply_retention(self, kind: str) -> None:
        keep = self.keep if kind == "ckpt" else 1
        folders = self._folders(kind)
        for _, path in folders[:-keep]:
            shutil.rmtree(path, ignore_errors=True)
