"""Load a YAML config, validate it against the schema and fill in the defaults."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import yaml

from .schema import SCHEMA, _Problems, expand_paths, validate


class ConfigError(ValueError):
    """A config is malformed: the message names the file and every offending key path.

    Attributes
    ----------
    source : str
        The config file (or ``<dict>``).
    problems : list of (key path, message)
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = list(problems)
        lines = [f"{path}: {message}" for path, message in self.problems]
        if len(lines) == 1:
            text = f"{source}: {lines[0]}"
        else:
            text = f"{source}: {len(lines)} problems:\n  " + "\n  ".join(lines)
        super().__init__(text)


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with ``yaml.safe_load``; errors name the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(path, [("<file>", "does not exist")])
    with open(path) as handle:
        try:
            return yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(path, [("<file>", f"not valid YAML: {error}")]) from None


def load_config(path_or_dict: str | os.PathLike | Mapping, source: str | None = None) -> dict:
    """Read, validate and resolve a config.

    Parameters
    ----------
    path_or_dict : str, path or mapping
        A YAML file or an already parsed config tree (not modified).
    source : str, optional
        Name used in error messages for a mapping (default ``<dict>``).

    Returns
    -------
    dict
        The resolved config: every key of the schema present, defaults filled in, numbers
        converted, single strings of list-valued keys wrapped in lists, ``{unique_name}``
        expanded in path values. This is what gets saved alongside models.

    Raises
    ------
    ConfigError
        For unknown keys, wrong types and missing required keys (all of them, with key paths).
    """
    if isinstance(path_or_dict, Mapping):
        raw = copy.deepcopy(dict(path_or_dict))
        source = source or "<dict>"
    else:
        source = os.fspath(path_or_dict)
        raw = read_yaml(source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [("<root>", f"expected a mapping, got {type(raw).__name__}")])
    problems = _Problems()
    resolved = validate(SCHEMA, raw, "", problems)
    if problems:
        raise ConfigError(source, problems)
    resolved = expand_paths(SCHEMA, resolved, resolved["unique_name"])
    return resolved


def dump_config(config: Mapping, path: str | os.PathLike) -> None:
    """Write a (resolved) config as YAML (plain types only, keys in schema order)."""
    with open(path, "w") as handle:
        yaml.safe_dump(dict(config), handle, sort_keys=False, default_flow_style=False)
