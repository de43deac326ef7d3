"""`egenerator resolution`: resolution tables and plots of a reconstruction output file.

egenerator resolution OUT.hdf5 [--truth MCCascade] [--output-key NAME] [--plots DIR]
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "resolution tables and plots of a reconstruction output file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `egenerator resolution`."""
    parser.add_argument("output_file", metavar="OUT.hdf5", help="output of `egenerator reco`")
    parser.add_argument(
        "--truth", default="MCCascade", metavar="TABLE", help="truth table (I3Particle or labels)"
    )
    parser.add_argument(
        "--truth-file",
        default=None,
        metavar="FILE",
        help="file holding the truth table (default: the output file, where reco copied it)",
    )
    parser.add_argument("--output-key", default="EventGenerator", metavar="NAME")
    parser.add_argument("--plots", default=None, metavar="DIR", help="write PNG plots here")
    parser.add_argument(
        "--energy-bins",
        nargs="+",
        type=float,
        default=None,
        metavar="E",
        help="edges of the true-energy bins [GeV] (default 1e2 ... 1e7, one per decade)",
    )
    parser.add_argument(
        "--all-events",
        action="store_true",
        help="include events whose fit did not succeed (default: fit_status 0 only)",
    )
    parser.add_argument("--json", default=None, metavar="FILE", help="write the summary as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the resolution table; write plots / JSON. Returns 0 or 2 (bad input)."""
    from ..reco.resolution import (
        DEFAULT_ENERGY_BINS_GEV,
        format_summary,
        load_resolution_inputs,
        make_plots,
        resolution_summary,
    )

    bins = args.energy_bins or DEFAULT_ENERGY_BINS_GEV
    try:
        data = load_resolution_inputs(
            args.output_file, args.output_key, args.truth, truth_path=args.truth_file
        )
        if len(bins) < 2 or any(b <= a for a, b in zip(bins[:-1], bins[1:], strict=True)):
            raise ValueError(f"--energy-bins must be >= 2 increasing edges, got {bins}")
        success = None if args.all_events else data["success"]
        summary = resolution_summary(
            data["reco"],
            data["truth"],
            success=success,
            sigma=data.get("sigma"),
            circular_unc_rad=data.get("circular_unc"),
            energy_bins_gev=bins,
        )
        print(format_summary(summary, f"{args.output_file} [{args.output_key} vs {args.truth}]"))
        if args.plots:
            files = make_plots(
                data["reco"],
                data["truth"],
                args.plots,
                success=success,
                sigma=data.get("sigma"),
                energy_bins_gev=bins,
                label=args.output_key,
            )
            print("plots: " + ", ".join(files))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(summary, handle, indent=1)
    except ValueError as err:
        print(f"egenerator resolution: error: {err}", file=sys.stderr)
        return 2
    return 0
