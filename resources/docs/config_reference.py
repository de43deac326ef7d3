#!/usr/bin/env python3
"""Print the config key reference of user_guide.md, generated from the schema's descriptions.

Usage (from the repository root)::

    .venv/bin/python resources/docs/config_reference.py            # print the table
    .venv/bin/python resources/docs/config_reference.py --write    # update user_guide.md

The table is committed inside ``resources/docs/user_guide.md`` between the markers
``<!-- BEGIN config-reference -->`` and ``<!-- END config-reference -->``;
``resources/test/test_docs.py`` checks that it matches what this script generates.
The four data iterators (training, trafo, validation, test) share their keys, so they are shown
once as ``data_iterator_settings.<iterator>.KEY`` with the defaults that differ spelled out.
"""

from __future__ import annotations

import sys
from pathlib import Path

BEGIN = "<!-- BEGIN config-reference -->"
END = "<!-- END config-reference -->"
USER_GUIDE = Path(__file__).resolve().parent / "user_guide.md"
ITERATORS = ("training", "trafo", "validation", "test")
_ITERATOR_PREFIX = "data_iterator_settings."


def _cell(text: str) -> str:
    """Markdown-safe table cell: no pipes, no accidental bold from ``__``."""
    return text.replace("|", "\\|").replace("__", "\\_\\_")


def _merge_iterators(rows: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    """One row per iterator key instead of four (defaults that differ are listed)."""
    groups: dict[str, dict[str, tuple[str, str, str]]] = {}  # suffix -> iterator -> row
    order: list[tuple[str, ...]] = []  # ("row", key, type, default, doc) or ("iterator", suffix)
    for key, type_name, default, doc in rows:
        parts = key.split(".")
        if key.startswith(_ITERATOR_PREFIX) and parts[1] in ITERATORS:
            suffix = ".".join(parts[2:])
            if suffix not in groups:
                groups[suffix] = {}
                order.append(("iterator", suffix))
            groups[suffix][parts[1]] = (type_name, default, doc)
        else:
            order.append(("row", key, type_name, default, doc))
    result = []
    for entry in order:
        if entry[0] == "row":
            result.append(entry[1:])
            continue
        suffix = entry[1]
        per = groups[suffix]
        type_name, _, doc = per[ITERATORS[0]]
        by_value: dict[str, list[str]] = {}
        for name in ITERATORS:
            by_value.setdefault(per[name][1], []).append(name)
        if len(by_value) == 1:
            default = next(iter(by_value))
        else:
            default = "; ".join(f"{'/'.join(names)}: {v}" for v, names in by_value.items())
        key = f"{_ITERATOR_PREFIX}<iterator>" + (f".{suffix}" if suffix else "")
        if not suffix:
            doc = "one data iterator: training, trafo, validation or test"
        result.append((key, type_name, default, doc))
    return result


def config_reference_markdown() -> str:
    """The key reference as a markdown table (what user_guide.md holds between the markers)."""
    from egenerator.config.schema import describe_schema

    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, type_name, default, doc in _merge_iterators(describe_schema()):
        lines.append(f"| `{key}` | {_cell(type_name)} | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def replace_in_guide(text: str, table: str) -> str:
    """``text`` with the part between the markers replaced by ``table``."""
    start = text.index(BEGIN) + len(BEGIN)
    stop = text.index(END)
    return text[:start] + "\n" + table + text[stop:]


def main(argv: list[str]) -> int:
    table = config_reference_markdown()
    if "--write" in argv:
        text = USER_GUIDE.read_text(encoding="utf-8")
        USER_GUIDE.write_text(replace_in_guide(text, table), encoding="utf-8")
        print(f"updated {USER_GUIDE}")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
