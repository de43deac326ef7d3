"""Save and load model components (sources, multi-sources) as plain folders.

Every component writes its own folder::

    <dir>/config.yaml   class (registry short name), name, resolved config, parameter_names,
                        children (multi-sources), format_version, package versions
    <dir>/weights.npz   variable name -> array (the component's own variables only)
    <dir>/<child>/      one sub-folder per child (multi_source_bases), same layout

No pickle and no code: ``weights.npz`` is read with ``allow_pickle=False`` and the class is
resolved through the registry (:mod:`egenerator.config.registry`), so a folder can only
instantiate egenerator classes. A trained ``cascade/`` folder can be loaded alone or reused inside
a new hypothesis through a ``load_dir`` node of the model config (see :mod:`.builder`).
"""

from __future__ import annotations

import os
import platform
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .. import __version__
from ..config.registry import resolve_class
from ..detector import DetectorTable
from .source.base import Source

FORMAT_VERSION = 1
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "weights.npz"
_REQUIRED_KEYS = ("class", "config", "parameter_names")
_KNOWN_KEYS = set(_REQUIRED_KEYS) | {"name", "children", "format_version", "versions"}
_SAFE_CHILD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class ComponentIOError(ValueError):
    """A component folder is missing, malformed or does not match the code (names the file)."""


def package_versions() -> dict[str, str]:
    """Versions recorded next to every saved component."""
    import tensorflow as tf

    return {
        "egenerator": __version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _atomic_write(path: Path, write) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _plain(value: Any) -> Any:
    """YAML-safe copy (numpy scalars -> Python, tuples -> lists, mappings -> dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_component(source: Source, directory: str | os.PathLike) -> Path:
    """Write ``source`` (and its children, recursively) into ``directory``.

    Returns
    -------
    Path
        The folder written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    description = _plain(source.describe())
    children = source.children
    for child_name in children:
        if not _SAFE_CHILD.match(child_name) or child_name in (".", ".."):
            raise ComponentIOError(
                f"{directory}: child name {child_name!r} cannot be used as a folder name"
            )
    if children:
        description["children"] = list(children)
    description["format_version"] = FORMAT_VERSION
    description["versions"] = package_versions()
    text = yaml.safe_dump(description, sort_keys=False, default_flow_style=False)
    _atomic_write(directory / CONFIG_FILE, lambda s: s.write(text.encode()))
    arrays = {name: np.asarray(var.numpy()) for name, var in source.own_variables().items()}
    _atomic_write(directory / WEIGHTS_FILE, lambda s: np.savez(s, **arrays))
    for child_name, child in children.items():
        save_component(child, directory / child_name)
    return directory


def read_description(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed and checked ``config.yaml`` of a component folder."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ComponentIOError(f"{path}: no such file (not a saved egenerator component)")
    with open(path) as handle:
        try:
            description = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ComponentIOError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(description, dict):
        raise ComponentIOError(f"{path}: expected a mapping at the top level")
    missing = [k for k in _REQUIRED_KEYS if k not in description]
    if missing:
        raise ComponentIOError(f"{path}: missing key(s) {missing}")
    unknown = sorted(set(description) - _KNOWN_KEYS)
    if unknown:
        raise ComponentIOError(f"{path}: unknown key(s) {unknown}; known: {sorted(_KNOWN_KEYS)}")
    version = description.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ComponentIOError(
            f"{path}: format_version {version!r} is not supported (this code reads "
            f"{FORMAT_VERSION})"
        )
    if not isinstance(description["config"], dict):
        raise ComponentIOError(f"{path}: key 'config' must be a mapping")
    children = description.get("children", [])
    if not isinstance(children, list) or not all(
        isinstance(c, str) and _SAFE_CHILD.match(c) and c not in (".", "..") for c in children
    ):
        raise ComponentIOError(f"{path}: key 'children' must be a list of folder names")
    return description


def load_component(
    directory: str | os.PathLike,
    detector: DetectorTable,
    name: str | None = None,
    key_path: str | None = None,
) -> Source:
    """Rebuild a saved component (and its children) with its weights.

    Parameters
    ----------
    directory : path
        A folder written by :func:`save_component`.
    detector : DetectorTable
        The detector to predict for (the cascade network works on any table).
    name : str, optional
        New name of the component (default: the saved one), e.g. its key in a new hypothesis.
    key_path : str, optional
        Where the component stands in a config tree (error messages).

    Raises
    ------
    ComponentIOError
        Missing files, unknown classes, parameter names or weights that do not match the code.
    """
    directory = Path(directory)
    description = read_description(directory)
    config_path = directory / CONFIG_FILE
    cls = resolve_class(description["class"], f"{config_path}:class", kind="source")
    name = name or str(description.get("name") or directory.name)
    key_path = key_path or name
    if cls.is_multi_source:
        children = description.get("children", [])
        if not children:
            raise ComponentIOError(f"{config_path}: a multi-source lists no 'children'")
        bases = {
            child: load_component(directory / child, detector, child, f"{key_path}.{child}")
            for child in children
        }
        source = cls(description["config"], detector, name, key_path, bases=bases)
    else:
        if description.get("children"):
            raise ComponentIOError(f"{config_path}: {cls.__name__} takes no children")
        source = cls(description["config"], detector, name, key_path)
    saved_names = [str(p) for p in description["parameter_names"]]
    if list(source.parameter_names) != saved_names:
        raise ComponentIOError(
            f"{config_path}: parameter_names {saved_names} do not match what the code builds "
            f"from this config: {list(source.parameter_names)}"
        )
    load_weights(source, directory / WEIGHTS_FILE)
    return source


def load_weights(source: Source, path: str | os.PathLike) -> None:
    """Assign the arrays of a ``weights.npz`` to the component's own variables (exact match)."""
    path = Path(path)
    variables = source.own_variables()
    if not path.is_file():
        if not variables:
            return
        raise ComponentIOError(f"{path}: no such file; expected weights {sorted(variables)}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except (OSError, ValueError) as error:
        raise ComponentIOError(f"{path}: cannot read weights ({error})") from None
    missing = sorted(set(variables) - set(arrays))
    extra = sorted(set(arrays) - set(variables))
    if missing or extra:
        raise ComponentIOError(f"{path}: weights do not match: missing {missing}, extra {extra}")
    for key, var in variables.items():
        value = arrays[key]
        if tuple(value.shape) != tuple(var.shape):
            raise ComponentIOError(
                f"{path}: weight '{key}' has shape {tuple(value.shape)}, the model expects "
                f"{tuple(var.shape)}"
            )
        var.assign(value.astype(var.dtype.as_numpy_dtype))
