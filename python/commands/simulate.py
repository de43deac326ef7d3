"""`egenerator simulate`: simulate cascade events with the embedded simulator into an hdf5 file."""

from __future__ import annotations

import argparse
import os
import sys

from .arguments import positive_int, random_seed

HELP = "simulate cascade events with the embedded simulator into an hdf5 file"

# The names --fixed accepts (the cascade parameters of egenerator.CASCADE_PARAMETER_NAMES).
FIXED_NAMES = ("x", "y", "z", "zenith", "azimuth", "energy", "time")


def parse_fixed(text: str) -> dict[str, float]:
    """Parse ``--fixed x=0,y=0,energy=1e4`` into ``{"x": 0.0, "y": 0.0, "energy": 10000.0}``.

    Raises
    ------
    argparse.ArgumentTypeError
        An entry without ``=``, an unknown or repeated name, or a value that is not a finite
        number.
    """
    result: dict[str, float] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        if "=" not in entry:
            raise argparse.ArgumentTypeError(
                f"--fixed entry {entry!r} is not NAME=VALUE (names: {', '.join(FIXED_NAMES)})"
            )
        name, value = (part.strip() for part in entry.split("=", 1))
        if name not in FIXED_NAMES:
            raise argparse.ArgumentTypeError(
                f"--fixed: unknown parameter {name!r}; known: {', '.join(FIXED_NAMES)}"
            )
        if name in result:
            raise argparse.ArgumentTypeError(f"--fixed: parameter {name!r} given twice")
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--fixed: value of {name!r} is {value!r}, not a number"
            ) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"--fixed: value of {name!r} is {value!r}")
        result[name] = number
    if not result:
        raise argparse.ArgumentTypeError("--fixed: no NAME=VALUE entries given")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `egenerator simulate`."""
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="hdf5 output file")
    parser.add_argument(
        "--events", required=True, type=positive_int, metavar="N", help="number of events"
    )
    parser.add_argument(
        "--seed",
        required=True,
        type=random_seed,
        metavar="S",
        help="random seed (same seed and chunk size: the same file, byte for byte)",
    )
    parser.add_argument(
        "--energy-range",
        nargs=2,
        type=float,
        metavar=("EMIN", "EMAX"),
        default=None,
        help="energy range [GeV] of the log-uniform spectrum (default 1e3 1e6)",
    )
    parser.add_argument(
        "--geometry",
        metavar="CSV",
        default=None,
        help="detector table (string, om, x, y, z, efficiency, noise_rate_hz[, dead]); "
        "default: the generated ic86-like detector",
    )
    parser.add_argument(
        "--fixed",
        type=parse_fixed,
        default=None,
        metavar="NAME=VALUE,...",
        help=f"fix parameters instead of sampling them; names: {', '.join(FIXED_NAMES)}",
    )
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=None,
        metavar="K",
        help="events simulated and written at once (memory); default: the simulator's",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_energy_range(energy_range: list[float] | None) -> tuple[float, float] | None:
    if energy_range is None:
        return None
    low, high = energy_range
    if not (0.0 < low <= high < float("inf")):
        raise ValueError(f"--energy-range: need 0 < EMIN <= EMAX < inf, got {low} {high}")
    return float(low), float(high)


def run(args: argparse.Namespace) -> int:
    """Simulate ``args.events`` events into ``args.output``; print a summary. Returns 0 or 2."""
    from ..detector import DetectorTable, ic86_like
    from ..io import write_simulation
    from ..sim.physics import PhysicsConfig
    from ..sim.sampler import simulate_events

    try:
        energy_range = _check_energy_range(args.energy_range)
        detector = DetectorTable.from_csv(args.geometry) if args.geometry else ic86_like()
        kwargs = {}
        if args.chunk_size is not None:
            kwargs["chunk_size"] = args.chunk_size
        events = simulate_events(
            args.events,
            args.seed,
            detector,
            config=PhysicsConfig(),
            energy_range_gev=energy_range,
            fixed=args.fixed,
            **kwargs,
        )
        summary = write_simulation(
            args.output,
            events,
            detector,
            progress=not args.no_progress,
            total_events=args.events,
        )
    except ValueError as err:
        print(f"egenerator simulate: error: {err}", file=sys.stderr)
        return 2
    size_mb = os.path.getsize(summary["path"]) / 1e6
    print(f"wrote {summary['path']} ({size_mb:.2f} MB), tables: {', '.join(summary['tables'])}")
    print(f"detector: {detector.source} ({detector.num_doms} DOMs), seed {args.seed}")
    print(
        f"events: {summary['events']}  pulses: {summary['pulses']} "
        f"({summary['pulses_per_event']:.1f} per event)  "
        f"MC pulses without noise: {summary['mc_pulses']}"
    )
    print(f"charge per event: {summary['charge_pe_per_event']:.1f} PE")
    print(
        f"time: {summary['seconds']:.2f} s ({1e3 * summary['seconds_per_event']:.2f} ms per event)"
    )
    return 0
