#!/usr/bin/env python3
"""Build the data trafo of a config (the old egenerator script name).

Usage: create_trafo_model.py CONFIG [--parameter-names a,b,c] [--output DIR] [--overwrite]

A thin wrapper of ``egenerator trafo``; runnable from a checkout without installing.
"""

from __future__ import annotations

import os
import sys


def _import_cli():
    try:
        from egenerator import cli
    except ImportError:
        # not installed: load the checkout's python/ directory as the package `egenerator`
        import importlib.util

        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        spec = importlib.util.spec_from_file_location(
            "egenerator",
            os.path.join(repo, "python", "__init__.py"),
            submodule_search_locations=[os.path.join(repo, "python")],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["egenerator"] = module
        spec.loader.exec_module(module)
        from egenerator import cli
    return cli


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(_import_cli().main(["trafo", *sys.argv[1:]]))
