"""Run one `egenerator` subcommand from a script of this folder (the old egenerator script
names): the installed package, else the checkout's python/ folder loaded as ``egenerator``."""

from __future__ import annotations

import os
import sys


def _load_cli():
    try:
        from egenerator import cli
    except ImportError:
        import importlib.util

        here = os.path.dirname(os.path.abspath(__file__))
        package_dir = os.path.join(os.path.dirname(os.path.dirname(here)), "python")
        spec = importlib.util.spec_from_file_location(
            "egenerator",
            os.path.join(package_dir, "__init__.py"),
            submodule_search_locations=[package_dir],
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["egenerator"] = package
        spec.loader.exec_module(package)
        from egenerator import cli
    return cli


def run_subcommand(name: str) -> int:
    """``egenerator NAME ARGS...`` with this process's arguments; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return _load_cli().main([name, *sys.argv[1:]])
