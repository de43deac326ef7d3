#!/usr/bin/env python3
"""Export a trained model into a self-contained folder (the old egenerator script name).

Usage: export_model.py CONFIG -o DIR [--checkpoint best|latest|FOLDER] [--overwrite]

A thin wrapper of ``egenerator export``; runnable from a checkout without installing.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cli_wrapper import run_subcommand  # noqa: E402  (next to this script)

if __name__ == "__main__":
    sys.exit(run_subcommand("export"))
