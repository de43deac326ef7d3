#!/usr/bin/env python3
"""Print the generated reference tables of user_guide.md.

Usage (from the repository root)::

    .venv/bin/python resources/docs/config_reference.py            # print the tables
    .venv/bin/python resources/docs/config_reference.py --write    # update user_guide.md

Two tables are committed inside ``resources/docs/user_guide.md`` between markers:

- ``config-reference``: every config key with type, default and the one-line description of
  the schema (``egenerator.config.schema``). The four data iterators (training, trafo,
  validation, test) share their keys, so they are shown once as
  ``data_iterator_settings.<iterator>.KEY`` with the defaults that differ spelled out.
- ``module-parameters``: the parameters of the I3Module ``EventGeneratorReconstruction``
  (``PARAMETERS`` of ``python/icetray/reconstruction_module.py``), read from the source with
  ``ast`` so that neither IceTray nor TensorFlow is needed.

``resources/test/test_docs.py`` checks that both match what this script generates.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
USER_GUIDE = DOCS / "user_guide.md"
MODULE_SOURCE = DOCS.parents[1] / "python" / "icetray" / "reconstruction_module.py"
ITERATORS = ("training", "trafo", "validation", "test")
_ITERATOR_PREFIX = "data_iterator_settings."


def _cell(text: str) -> str:
    """Markdown-safe table cell: no pipes, no accidental bold from ``__``, no ``<tag>``."""
    text = text.replace("|", "\\|").replace("__", "\\_\\_")
    return re.sub(r"<(?=[A-Za-z/!])", "&lt;", text)


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
    """The config key reference as a markdown table."""
    from egenerator.config.schema import describe_schema

    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, type_name, default, doc in _merge_iterators(describe_schema()):
        lines.append(f"| `{key}` | {_cell(type_name)} | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def _default_text(node: ast.expr) -> str:
    """A parameter default as text: literals evaluated, constants of egenerator looked up."""
    try:
        return repr(ast.literal_eval(node))
    except ValueError:
        pass
    if isinstance(node, ast.Name):
        import importlib

        for module in ("egenerator.icetray.frame_conversion", "egenerator.icetray.exclusions"):
            value = getattr(importlib.import_module(module), node.id, None)
            if value is not None:
                return repr(value)
    return ast.unparse(node)


def module_parameters(path: Path = MODULE_SOURCE) -> list[tuple[str, str, str]]:
    """(name, default, description) of ``PARAMETERS`` in the module source (empty if absent)."""
    if not path.is_file():
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "PARAMETERS" for t in targets if t):
            rows = []
            for item in node.value.elts:
                name, doc, default = item.elts
                rows.append((ast.literal_eval(name), _default_text(default), ast.literal_eval(doc)))
            return rows
    raise ValueError(f"{path}: no PARAMETERS tuple found")


def module_parameters_markdown(path: Path = MODULE_SOURCE) -> str:
    """The parameters of EventGeneratorReconstruction as a markdown table."""
    lines = ["| parameter | default | description |", "|---|---|---|"]
    for name, default, doc in module_parameters(path):
        lines.append(f"| `{name}` | {_cell(default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


#: marker name -> generator of the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``
TABLES = {
    "config-reference": config_reference_markdown,
    "module-parameters": module_parameters_markdown,
}


def replace_in_guide(text: str, name: str, table: str) -> str:
    """``text`` with the part between the markers of ``name`` replaced by ``table``."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    return text[:start] + "\n" + table + text[stop:]


def updated_guide(text: str) -> str:
    """``text`` (user_guide.md) with every generated table regenerated."""
    for name, generate in TABLES.items():
        text = replace_in_guide(text, name, generate())
    return text


def main(argv: list[str]) -> int:
    if "--write" in argv:
        text = USER_GUIDE.read_text(encoding="utf-8")
        USER_GUIDE.write_text(updated_guide(text), encoding="utf-8")
        print(f"updated {USER_GUIDE}")
    else:
        for name, generate in TABLES.items():
            sys.stdout.write(f"<!-- {name} -->\n{generate()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
