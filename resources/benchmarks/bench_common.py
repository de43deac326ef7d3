"""Options every benchmark script shares: ``--quick`` (a smoke run) and ``--json FILE``.

`egenerator bench` runs each script with ``--json`` and collects the figures into one file.
"""

from __future__ import annotations

import argparse
import json
import resource


def add_common_arguments(parser: argparse.ArgumentParser, quick_help: str = "a smoke run") -> None:
    """Add ``--json`` (and ``--quick`` unless the script already has it)."""
    if not any("--quick" in action.option_strings for action in parser._actions):
        parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", default=None, metavar="FILE", help="write the figures as JSON")


def peak_memory_mb() -> float:
    """Peak resident memory of this process [MB]."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_json(path: str | None, figures: dict) -> None:
    """Write the figures (plus this process's peak memory) when ``path`` is given."""
    if not path:
        return
    figures = {**figures, "peak_memory_mb": peak_memory_mb()}
    with open(path, "w") as handle:
        json.dump(figures, handle, indent=2, default=float)
