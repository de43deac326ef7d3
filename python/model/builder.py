"""Build a model (tree of sources) from the ``model_settings`` config tree.

A node is a mapping in either spelling:

- old: ``{model_class, config, multi_source_bases}``
- new: ``{class, config, children}``

and may instead (or additionally) give ``load_dir``: a folder written by
:func:`egenerator.model.component_io.save_component`, loaded with its weights. With ``load_dir``
a ``class``/``model_class`` and ``config`` may still be given; they must agree with what was
saved. ``data_trafo_settings`` is accepted next to ``load_dir`` (old configs carry it; the
parameter transformation belongs to the data pipeline and is not read here).

The whole tree is checked (node keys, class names, config keys) before anything is built; every
error names the key path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config.registry import resolve_class
from ..detector import DetectorTable
from .component_io import load_component, read_description
from .source.base import Source, SourceConfigError, resolve_config

NODE_KEYS = (
    "class",
    "model_class",
    "config",
    "children",
    "multi_source_bases",
    "load_dir",
    "data_trafo_settings",
)


class ModelConfigError(SourceConfigError):
    """The model_settings tree is malformed (the message names the key path)."""


def _resolve_dir(load_dir: Any, key_path: str, base_dir: str | os.PathLike | None) -> Path:
    if not isinstance(load_dir, str | os.PathLike) or not str(load_dir):
        raise ModelConfigError(f"{key_path}.load_dir: expected a folder path, got {load_dir!r}")
    path = Path(os.path.expandvars(os.path.expanduser(str(load_dir))))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def _parse_node(node: Any, key_path: str) -> tuple[Any, Any, Any, str | None, Any]:
    """(class name, config, children mapping, children key, load_dir) of a node."""
    if not isinstance(node, Mapping):
        raise ModelConfigError(f"{key_path}: expected a mapping, got {type(node).__name__}")
    unknown = sorted(set(node) - set(NODE_KEYS))
    if unknown:
        raise ModelConfigError(
            f"{key_path}: unknown key(s) {unknown}; valid keys: {sorted(NODE_KEYS)}"
        )
    if "class" in node and "model_class" in node:
        raise ModelConfigError(f"{key_path}: give either 'class' or 'model_class', not both")
    if "children" in node and "multi_source_bases" in node:
        raise ModelConfigError(
            f"{key_path}: give either 'children' or 'multi_source_bases', not both"
        )
    class_key = "class" if "class" in node else "model_class"
    children_key = "children" if "children" in node else "multi_source_bases"
    children = node.get(children_key)
    if children is not None and not isinstance(children, Mapping):
        raise ModelConfigError(
            f"{key_path}.{children_key}: expected a mapping name -> node, got "
            f"{type(children).__name__}"
        )
    config = node.get("config")
    if config is not None and not isinstance(config, Mapping):
        raise ModelConfigError(
            f"{key_path}.config: expected a mapping, got {type(config).__name__}"
        )
    return (
        node.get(class_key),
        config,
        children,
        children_key if children is not None else None,
        node.get("load_dir"),
    )


def check_model_settings(
    model_settings: Mapping[str, Any],
    key_path: str = "model_settings",
    base_dir: str | os.PathLike | None = None,
) -> None:
    """Validate a model tree without building it (node keys, classes, config keys, folders)."""
    class_name, config, children, children_key, load_dir = _parse_node(model_settings, key_path)
    class_key = "class" if "class" in model_settings else "model_class"
    if load_dir is not None:
        path = _resolve_dir(load_dir, key_path, base_dir)
        try:
            description = read_description(path)
        except ValueError as error:
            raise ModelConfigError(f"{key_path}.load_dir: {error}") from None
        saved = resolve_class(description["class"], f"{path}/config.yaml:class", kind="source")
        if class_name is not None:
            cls = resolve_class(class_name, f"{key_path}.{class_key}", kind="source")
            if cls is not saved:
                raise ModelConfigError(
                    f"{key_path}.{class_key}: {class_name!r} but {path} holds a "
                    f"{saved.registry_name}"
                )
        if children is not None:
            raise ModelConfigError(
                f"{key_path}.{children_key}: not allowed with load_dir (the saved component "
                "brings its children)"
            )
        return
    if class_name is None:
        raise ModelConfigError(f"{key_path}: missing 'class' (or 'model_class') or 'load_dir'")
    cls = resolve_class(class_name, f"{key_path}.{class_key}", kind="source")
    resolve_config(cls.DEFAULT_CONFIG, config, f"{key_path}.config")
    if cls.is_multi_source:
        if not children:
            raise ModelConfigError(
                f"{key_path}: {cls.registry_name} needs 'children' (or 'multi_source_bases')"
            )
        for child_name, child in children.items():
            check_model_settings(child, f"{key_path}.{children_key}.{child_name}", base_dir)
    elif children:
        raise ModelConfigError(
            f"{key_path}.{children_key}: {cls.registry_name} is not a multi-source and takes "
            "no children"
        )


def _check_agrees(source: Source, config: Mapping[str, Any] | None, key_path: str) -> None:
    if not config:
        return
    resolved = resolve_config(source.DEFAULT_CONFIG, config, f"{key_path}.config")
    for key in config:
        saved = source.config[key]
        wanted = resolved[key]
        if key == "sources" and not wanted:
            continue
        if saved != wanted:
            raise ModelConfigError(
                f"{key_path}.config.{key}: {wanted!r} differs from the loaded component's "
                f"{saved!r} (remove the key or retrain)"
            )


def _build(
    node: Mapping[str, Any],
    detector: DetectorTable,
    key_path: str,
    name: str,
    base_dir: str | os.PathLike | None,
) -> Source:
    class_name, config, children, children_key, load_dir = _parse_node(node, key_path)
    if load_dir is not None:
        path = _resolve_dir(load_dir, key_path, base_dir)
        source = load_component(path, detector, name=name, key_path=key_path)
        _check_agrees(source, config, key_path)
        return source
    class_key = "class" if "class" in node else "model_class"
    cls = resolve_class(class_name, f"{key_path}.{class_key}", kind="source")
    if cls.is_multi_source:
        bases = {
            child_name: _build(
                child, detector, f"{key_path}.{children_key}.{child_name}", child_name, base_dir
            )
            for child_name, child in children.items()
        }
        return cls(config, detector, name, key_path, bases=bases)
    return cls(config, detector, name, key_path)


def build_model(
    model_settings: Mapping[str, Any],
    detector: DetectorTable,
    key_path: str = "model_settings",
    name: str = "model",
    base_dir: str | os.PathLike | None = None,
) -> Source:
    """Build the source tree a ``model_settings`` config describes.

    Parameters
    ----------
    model_settings : mapping
        The root node (see the module docstring for the node spellings).
    detector : DetectorTable
        The detector the model predicts for.
    key_path : str
        Key path of the root node (for error messages).
    name : str
        Name of the root component.
    base_dir : path, optional
        Folder that relative ``load_dir`` paths are relative to (default: the working
        directory).

    Returns
    -------
    Source
        The root component (weights of ``load_dir`` nodes loaded, others freshly initialised).

    Raises
    ------
    ModelConfigError, RegistryError, ComponentIOError
        (all ValueError) naming the offending key path.
    """
    check_model_settings(model_settings, key_path, base_dir)
    return _build(model_settings, detector, key_path, name, base_dir)
