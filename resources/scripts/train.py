#!/usr/bin/env python3
"""Train the model of a config (the old egenerator script name).

Usage: train.py CONFIG [--steps N] [--resume] [--overwrite] [--no-progress]

A thin wrapper of ``egenerator train``; runnable from a checkout without installing.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _cli_wrapper import run_subcommand  # noqa: E402  (next to this script)

if __name__ == "__main__":
    sys.exit(run_subcommand("train"))
