"""The `egenerator` command: one subcommand per module in `egenerator.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> module in egenerator.commands; imported only when that subcommand runs, so that
# `egenerator simulate` does not pay for importing TensorFlow.
SUBCOMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "inspect": "inspect",
    "trafo": "trafo",
    "train": "train",
    "export": "export",
    "reco": "reco",
    "resolution": "resolution",
    "bench": "bench",
    "demo": "demo",
}

_SUMMARIES = {
    "simulate": "simulate cascade events with the embedded simulator into an hdf5 file",
    "inspect": "print the tables, event count and per-event summary of an hdf5 file",
    "trafo": "build the parameter transformation (create_trafo_model.py)",
    "train": "train the model of a config (train.py)",
    "export": "export a trained model into a self-contained folder (export_model.py)",
    "reco": "reconstruct events with an exported model or the oracle",
    "resolution": "resolution tables and plots of a reconstruction output file",
    "bench": "run the benchmarks of resources/benchmarks and print the figures",
    "demo": "simulate, train, export and reconstruct: the whole chain on a small scale",
}


def _load(name: str):
    return importlib.import_module(f"{__package__}.commands.{SUBCOMMANDS[name]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; sub-parsers are filled in for `only` (or all, when None)."""
    parser = argparse.ArgumentParser(
        prog="egenerator", description="egenerator: IceCube event hypotheses and reconstruction"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        p = sub.add_parser(name, help=_SUMMARIES[name], description=_SUMMARIES[name])
        if only is None or name == only:
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `egenerator` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(_load(args.command).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
