"""Typed view of the config's ``data_handler_settings`` (what the event loader needs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config.loader import ConfigError
from ..config.schema import SCHEMA, _Problems, validate


@dataclass(frozen=True)
class DataHandlerSettings:
    """How events are read from hdfwriter files (see the schema for each key's meaning).

    Build it with :meth:`from_config` from a config's ``data_handler_settings`` mapping
    (validated against the schema, defaults filled in).
    """

    pulse_key: str
    event_id_key: str | None = None
    dom_exclusions_key: tuple[str, ...] = ()
    time_exclusions_key: tuple[str, ...] = ()
    optional_keys: tuple[str, ...] = ()
    readout_window_key: str | None = "ReadoutWindow"
    time_window_buffer_ns: float = 100.0
    add_charge_quantiles: bool = False
    discard_pulses_from_excluded_doms: bool = False
    exclude_dead_doms: bool = True
    exclude_bright_doms: bool = False
    bright_doms_threshold_fraction: float = 0.4
    bright_doms_threshold_charge_pe: float = 100.0
    skip_incomplete_events: bool = False
    skip_invalid_events: bool = False
    label_key: str = "LabelsDeepLearning"
    label_columns: tuple[tuple[str, str], ...] = ()
    trafo_log: object = None
    additional_labels: tuple[str, ...] = ()
    event_weights: tuple[str, str] | None = None
    constraints: tuple[tuple[str, str, str, float], ...] = ()

    @property
    def event_table(self) -> str:
        """The table whose index lists the events (``event_id_key`` or the pulse table)."""
        return self.event_id_key or self.pulse_key

    @classmethod
    def from_config(
        cls, data_handler_settings: Mapping, source: str = "data_handler_settings"
    ) -> DataHandlerSettings:
        """Validate a ``data_handler_settings`` mapping (defaults filled) and wrap it.

        Raises
        ------
        ConfigError
            With the key path of every problem.
        """
        if isinstance(data_handler_settings, DataHandlerSettings):
            return data_handler_settings
        problems = _Problems()
        spec = SCHEMA.keys["data_handler_settings"]
        resolved = validate(spec, dict(data_handler_settings), "data_handler_settings", problems)
        if problems:
            raise ConfigError(source, problems)
        data = resolved["data_settings"]
        labels = resolved["label_settings"]
        filters = resolved["filter_settings"]
        return cls(
            pulse_key=data["pulse_key"],
            event_id_key=data["event_id_key"],
            dom_exclusions_key=tuple(data["dom_exclusions_key"] or ()),
            time_exclusions_key=tuple(data["time_exclusions_key"] or ()),
            optional_keys=tuple(data["optional_keys"]),
            readout_window_key=data["readout_window_key"],
            time_window_buffer_ns=float(data["time_window_buffer"]),
            add_charge_quantiles=data["add_charge_quantiles"],
            discard_pulses_from_excluded_doms=data["discard_pulses_from_excluded_doms"],
            exclude_dead_doms=data["exclude_dead_doms"],
            exclude_bright_doms=data["exclude_bright_doms"],
            bright_doms_threshold_fraction=float(data["bright_doms_threshold_fraction"]),
            bright_doms_threshold_charge_pe=float(data["bright_doms_threshold_charge"]),
            skip_incomplete_events=data["skip_incomplete_events"],
            skip_invalid_events=data["skip_invalid_events"],
            label_key=labels["label_key"],
            label_columns=tuple(sorted(labels["label_columns"].items())),
            trafo_log=_freeze(labels["trafo_log"]),
            additional_labels=tuple(labels["additional_labels"]),
            event_weights=tuple(labels["event_weights"]) if labels["event_weights"] else None,
            constraints=tuple(tuple(c) for c in filters["constraints"]),
        )


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    if isinstance(value, list):
        return tuple(value)
    return value


def trafo_log_flags(trafo_log, parameter_names: Sequence[str]) -> np.ndarray:
    """Per-parameter log-transform flags [P] bool.

    Parameters
    ----------
    trafo_log : None, bool, sequence of bool, or mapping name -> bool (or its sorted items)
        None: true for parameters whose name ends with ``energy``; a bool applies to all; a
        sequence gives one flag per parameter; a mapping names parameters (others: the None
        rule).
    parameter_names : sequence of str
    """
    names = list(parameter_names)
    default = np.array([n == "energy" or n.endswith("_energy") for n in names], dtype=bool)
    if trafo_log is None:
        return default
    if isinstance(trafo_log, bool | np.bool_):
        return np.full(len(names), bool(trafo_log))
    if isinstance(trafo_log, Mapping) or (
        isinstance(trafo_log, tuple | list)
        and trafo_log
        and all(isinstance(t, tuple | list) and len(t) == 2 for t in trafo_log)
    ):
        mapping = dict(trafo_log)
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ConfigError(
                "label_settings.trafo_log",
                [("trafo_log", f"names {unknown} are not parameters of the model {names}")],
            )
        return np.array([bool(mapping.get(n, d)) for n, d in zip(names, default, strict=True)])
    flags = list(trafo_log)
    if len(flags) != len(names):
        raise ConfigError(
            "label_settings.trafo_log",
            [("trafo_log", f"has {len(flags)} flags for {len(names)} parameters {names}")],
        )
    return np.array([bool(f) for f in flags], dtype=bool)
