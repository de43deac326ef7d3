#!/usr/bin/env python3
"""Build the data trafo of a config (the old egenerator script name).

Usage: create_trafo_model.py CONFIG [--parameter-names a,b,c] [--output DIR] [--overwrite]

A thin wrapper of ``egenerator trafo``; runnable from a checkout without installing.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cli_wrapper import run_subcommand  # noqa: E402  (next to this script)

if __name__ == "__main__":
    sys.exit(run_subcommand("trafo"))
