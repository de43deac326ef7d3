"""``egenerator trafo CONFIG``: build the parameter transformation and save it."""

from __future__ import annotations

import argparse

HELP = "build the parameter transformation (create_trafo_model.py)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the subcommand."""
    parser.add_argument("config", help="YAML config file")
    parser.add_argument(
        "--parameter-names",
        default=None,
        help="comma-separated parameter names (default: the model's, else the label columns)",
    )
    parser.add_argument(
        "--output", default=None, help="directory (default: data_trafo_settings.model_dir)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing trafo")


def run(args: argparse.Namespace) -> int:
    """Build and save the trafo; print where it went and its statistics."""
    from ..data.trafo_builder import create_trafo_model

    names = [n.strip() for n in args.parameter_names.split(",")] if args.parameter_names else None
    trafo, directory = create_trafo_model(
        args.config, parameter_names=names, output_dir=args.output, overwrite=args.overwrite
    )
    print(f"trafo of {trafo.num_events} events ({trafo.num_doms} DOMs) saved to {directory}")
    width = max(len(n) for n in trafo.parameter_names)
    for name, flag, mean, std in zip(
        trafo.parameter_names,
        trafo.log_flags,
        trafo.parameter_mean,
        trafo.parameter_std,
        strict=True,
    ):
        kind = "log1p" if flag else "     "
        print(f"  {name:<{width}} {kind} mean {mean:14.6g}  std {std:12.6g}")
    return 0
