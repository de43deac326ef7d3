"""`egenerator reco`: reconstruct events with an exported model or the oracle.

egenerator reco MODEL_DIR INPUT.hdf5 [INPUT2 ...] -o OUT.hdf5 [--seed-key TABLE]
                [--output-key NAME] [--batch-size B] [--covariance] [--gof N]
egenerator reco --oracle INPUT.hdf5 -o OUT.hdf5
"""

from __future__ import annotations

import argparse
import sys

from .arguments import non_negative_int, positive_int

HELP = "reconstruct events with an exported model or the oracle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `egenerator reco`."""
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="MODEL_DIR followed by input files (with --oracle: input files only)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="output hdf5 file")
    parser.add_argument(
        "--oracle", action="store_true", help="fit with the exact physics of the simulator"
    )
    parser.add_argument(
        "--geometry",
        metavar="CSV",
        default=None,
        help="detector table for --oracle (default: the generated ic86-like detector)",
    )
    parser.add_argument(
        "--seed-key",
        action="append",
        default=[],
        metavar="TABLE",
        help="table of the input file to seed from (I3Particle or labels; repeatable)",
    )
    parser.add_argument(
        "--first-guess",
        type=non_negative_int,
        default=None,
        metavar="K",
        help="first-guess seeds per event from a direction scan (default 3 without "
        "--seed-key, 0 with)",
    )
    parser.add_argument(
        "--output-key", default="EventGenerator", metavar="NAME", help="output table name"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, metavar="B", help="events fitted together"
    )
    parser.add_argument(
        "--interface",
        choices=("batched", "scipy"),
        default=None,
        help="minimiser (default: batched; the config's reco_optimizer_interface is ignored "
        "unless given here)",
    )
    parser.add_argument(
        "--covariance", action="store_true", help="write the covariance matrix table"
    )
    parser.add_argument(
        "--gof",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="goodness of fit with N pseudo-events per event",
    )
    parser.add_argument(
        "--pulse-key", default=None, metavar="TABLE", help="pulse table (overrides the config)"
    )
    parser.add_argument(
        "--copy-key",
        action="append",
        default=None,
        metavar="TABLE",
        help="tables copied from the input (default: MCCascade and LabelsDeepLearning)",
    )
    parser.add_argument("--random-seed", type=int, default=1, help="seed of the gof sampling")


def run(args: argparse.Namespace) -> int:
    """Reconstruct; print a summary. Returns 0 or 2 (bad input)."""
    import copy

    from ..detector import DetectorTable
    from ..reco.driver import DEFAULT_COPY_KEYS, model_setup, oracle_setup, reconstruct_files
    from ..reco.settings import RecoSettings

    try:
        if args.oracle:
            detector = DetectorTable.from_csv(args.geometry) if args.geometry else None
            setup = oracle_setup(detector)
            inputs = args.paths
        else:
            if len(args.paths) < 2:
                raise ValueError("give MODEL_DIR and at least one input file (or --oracle)")
            setup = model_setup(args.paths[0])
            inputs = args.paths[1:]
        if args.pulse_key:
            settings = copy.deepcopy(setup.data_handler_settings)
            settings.setdefault("data_settings", {})["pulse_key"] = args.pulse_key
            setup.data_handler_settings = settings
        config = dict(setup.reconstruction_settings)
        config["reco_optimizer_interface"] = args.interface or "batched"
        settings = RecoSettings.from_config(config)
        summary = reconstruct_files(
            setup,
            inputs,
            args.output,
            settings=settings,
            output_key=args.output_key,
            seed_keys=args.seed_key,
            num_first_guess=args.first_guess,
            batch_size=args.batch_size,
            covariance=args.covariance or None,
            num_pseudo_events=args.gof,
            copy_keys=DEFAULT_COPY_KEYS if args.copy_key is None else args.copy_key,
            random_seed=args.random_seed,
        )
    except ValueError as err:
        print(f"egenerator reco: error: {err}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0
