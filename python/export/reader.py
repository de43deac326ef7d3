"""Load an exported model folder (see :mod:`.format`): checked, no pickle, no code execution."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..detector import DetectorTable
from .format import (
    CONFIG_FILE,
    DETECTOR_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MANIFEST_KEYS,
    MANIFEST_KIND,
    MODEL_DIR,
    RECONSTRUCTION_FILE,
    REQUIRED_ENTRIES,
    TRAFO_DIR,
    ExportFormatError,
)

__all__ = ["ExportedModel", "check_export", "load_exported", "read_manifest"]


@dataclass
class ExportedModel:
    """An exported model, loaded.

    Attributes
    ----------
    path : Path
        The export folder.
    source : egenerator.model.source.base.Source
        The model (weights loaded).
    trafo : egenerator.data.trafo.DataTrafo
        The parameter transformation.
    detector : DetectorTable
        The DOM table it was trained on.
    config : dict
        The resolved training config.
    reconstruction_defaults : dict
        ``reconstruction_settings`` (+ ``I3ParticleMapping``) of the training config.
    manifest : dict
        ``export.yaml``.
    """

    path: Path
    source: Any
    trafo: Any
    detector: DetectorTable
    config: dict
    reconstruction_defaults: dict
    manifest: dict

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.source.parameter_names)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        problems.append(f"{path.name}: unreadable ({err})")
        return None


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """The checked ``export.yaml`` of an export folder.

    Raises
    ------
    ExportFormatError
        Listing every problem: missing files, a newer or malformed format version, missing or
        unknown manifest keys, a wrong ``kind``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ExportFormatError(str(directory), ["no such folder"])
    problems: list[str] = []
    for entry in REQUIRED_ENTRIES[1:]:
        if not (directory / entry).exists():
            problems.append(f"missing {entry}")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        problems.insert(0, "not an egenerator export folder (no export.yaml)")
        raise ExportFormatError(str(directory), problems)
    manifest = _read_yaml(manifest_path, problems)
    if manifest is not None and not isinstance(manifest, dict):
        problems.append(f"{MANIFEST_FILE}: expected a mapping, got {type(manifest).__name__}")
        manifest = None
    if manifest is None:
        raise ExportFormatError(str(directory), problems)
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        problems.append(f"{MANIFEST_FILE}: format_version must be an integer, got {version!r}")
    elif version > FORMAT_VERSION:
        written_by = (manifest.get("package_versions") or {}).get("egenerator", "?")
        problems.append(
            f"{MANIFEST_FILE}: format_version {version} (written by egenerator {written_by}) is "
            f"newer than this egenerator reads ({FORMAT_VERSION}); update egenerator"
        )
    elif version < 1:
        problems.append(f"{MANIFEST_FILE}: format_version {version} is not valid")
    else:
        missing = [k for k in MANIFEST_KEYS if k not in manifest]
        unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
        if missing:
            problems.append(f"{MANIFEST_FILE}: missing key(s) {missing}")
        if unknown:
            problems.append(
                f"{MANIFEST_FILE}: unknown key(s) {unknown} for format_version {version} "
                f"(known: {list(MANIFEST_KEYS)})"
            )
        if "kind" in manifest and manifest["kind"] != MANIFEST_KIND:
            problems.append(
                f"{MANIFEST_FILE}: kind {manifest['kind']!r}, expected {MANIFEST_KIND!r}"
            )
    if problems:
        raise ExportFormatError(str(directory), problems)
    return manifest


def check_export(directory: str | os.PathLike) -> list[str]:
    """Problems of an export folder as text lines (empty when it loads)."""
    try:
        load_exported(directory)
    except ExportFormatError as err:
        return list(err.problems)
    except ValueError as err:
        return [str(err)]
    return []


def load_exported(directory: str | os.PathLike) -> ExportedModel:
    """Load an export folder.

    Classes are resolved only through egenerator's registry and arrays are read with
    ``allow_pickle=False``; nothing in the folder can run code.

    Raises
    ------
    ExportFormatError
        Anything incompatible, each problem named (see :func:`read_manifest`), plus a model whose
        parameter names or DOM count differ from the manifest.
    ValueError
        From the component, trafo or detector readers (their messages name the file).
    """
    from ..data.trafo import DataTrafo
    from ..model.component_io import load_component

    directory = Path(directory)
    manifest = read_manifest(directory)
    problems: list[str] = []
    detector = DetectorTable.from_csv(directory / DETECTOR_FILE)
    source = load_component(directory / MODEL_DIR, detector)
    trafo = DataTrafo.load(directory / TRAFO_DIR)
    config = _read_yaml(directory / CONFIG_FILE, problems)
    reco = _read_yaml(directory / RECONSTRUCTION_FILE, problems)
    if list(source.parameter_names) != list(manifest["parameter_names"]):
        problems.append(
            f"{MODEL_DIR}: parameter names {list(source.parameter_names)} differ from "
            f"{MANIFEST_FILE}'s {manifest['parameter_names']}"
        )
    if detector.num_doms != manifest["num_doms"]:
        problems.append(
            f"{DETECTOR_FILE}: {detector.num_doms} DOMs, {MANIFEST_FILE} says {manifest['num_doms']}"
        )
    if list(trafo.parameter_names) != list(manifest["parameter_names"]):
        problems.append(
            f"{TRAFO_DIR}: parameter names {list(trafo.parameter_names)} differ from the model's "
            f"{manifest['parameter_names']}"
        )
    if not isinstance(config, dict):
        problems.append(f"{CONFIG_FILE}: expected a mapping")
    if not isinstance(reco, dict):
        problems.append(f"{RECONSTRUCTION_FILE}: expected a mapping")
    if problems:
        raise ExportFormatError(str(directory), problems)
    return ExportedModel(
        path=directory,
        source=source,
        trafo=trafo,
        detector=detector,
        config=config,
        reconstruction_defaults=reco,
        manifest=manifest,
    )
