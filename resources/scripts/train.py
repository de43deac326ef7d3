#!/usr/bin/env python3
"""Train the model of a config (the old egenerator script name).

Usage: train.py CONFIG [--steps N] [--resume] [--overwrite] [--no-progress]

A thin wrapper of ``egenerator train``; runnable from a checkout without installing.
"""

from __future__ import annotations

import os
import sys


def _load_cli():
    """The egenerator CLI module: the installed package, else the checkout's python/ folder."""
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


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(_load_cli().main(["train", *sys.argv[1:]]))
