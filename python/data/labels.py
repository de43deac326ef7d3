"""Which label-table column holds each model parameter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import EventDataError


def _candidates(name: str) -> list[str]:
    names = [name]
    if name == "time":
        names.append("t")
    elif name.endswith("_time"):
        names.append(name[: -len("time")] + "t")
    return names


def resolve_label_columns(
    parameter_names: Sequence[str],
    columns: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    source: str = "",
    table: str = "",
) -> list[str]:
    """The label column of every parameter.

    Rules, first match wins: (1) ``explicit[name]``; (2) a column named like the parameter;
    (3) for ``<prefix>_time`` (or ``time``) the column ``<prefix>_t`` (``t``); (4) for a name
    without a match, the unique column ending in ``_<name>`` (or ``_t`` for time), e.g.
    ``x`` -> ``cascade_x`` when no other column ends in ``_x``.

    Raises
    ------
    EventDataError
        Naming the file, table, parameter and the available columns.
    """
    explicit = dict(explicit or {})
    available = [c for c in columns]
    result = []
    for name in parameter_names:
        if name in explicit:
            column = explicit[name]
            if column not in available:
                raise EventDataError(
                    f"{source}: table '{table}' has no column '{column}' "
                    f"(label_columns['{name}']); columns are {available}"
                )
            result.append(column)
            continue
        found = next((c for c in _candidates(name) if c in available), None)
        if found is None:
            for candidate in _candidates(name):
                suffix_matches = [c for c in available if c.endswith("_" + candidate)]
                if len(suffix_matches) == 1:
                    found = suffix_matches[0]
                    break
        if found is None:
            raise EventDataError(
                f"{source}: table '{table}' has no column for parameter '{name}' "
                f"(tried {_candidates(name)}); columns are {available}; "
                "map it with label_settings.label_columns"
            )
        result.append(found)
    return result
