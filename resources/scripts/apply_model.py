#!/usr/bin/env python
"""Reconstruct the physics frames of I3 files with an exported egenerator model (or the oracle).

I3Reader -> ApplyEventGeneratorReconstruction -> I3Writer. Every frame is written out in its
original order; each physics frame gets ``<output-key>`` (I3MapStringDouble),
``<output-key>_I3Particle`` and, with --covariance, ``<output-key>_cov_matrix_cov``.

Run inside the IceTray environment, e.g.
    /work/icetray/build/env-shell.sh /work/main/.venv/bin/python \
        resources/scripts/apply_model.py sim.i3.zst -o reco.i3.zst --oracle \
        --seed-key MCCascade
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from egenerator.commands.arguments import non_negative_int, positive_int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="I3 files (read in order)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="I3 file to write")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", metavar="DIR", help="exported model folder")
    model.add_argument(
        "--oracle", action="store_true", help="fit with the exact physics of the simulator"
    )
    parser.add_argument(
        "--geometry",
        metavar="CSV",
        default=None,
        help="--oracle: detector table (default: from the first G and C frames of the input)",
    )
    parser.add_argument(
        "--seed-key",
        action="append",
        default=[],
        metavar="KEY",
        help="seed frame key (I3Particle or I3MapStringDouble; repeatable)",
    )
    parser.add_argument(
        "--first-guess",
        type=non_negative_int,
        default=None,
        metavar="K",
        help="first-guess seeds per event (default 3 without --seed-key, 0 with)",
    )
    parser.add_argument("--output-key", default="EventGenerator", metavar="NAME")
    parser.add_argument("--pulse-key", default="SplitInIceDSTPulses", metavar="KEY")
    parser.add_argument(
        "--exclusion-key",
        action="append",
        default=None,
        metavar="KEY",
        help="DOM / time-window exclusion keys (repeatable; default BadDomsList, "
        "CalibrationErrata, SaturationWindows)",
    )
    parser.add_argument(
        "--keep-bright-doms", action="store_true", help="do not exclude bright DOMs"
    )
    parser.add_argument(
        "--time-window-key",
        default=None,
        metavar="KEY",
        help="I3TimeWindow with the readout window (default: pulses +- 100 ns)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=16, metavar="B")
    parser.add_argument("--interface", choices=("batched", "scipy"), default=None)
    parser.add_argument(
        "--skip-graph-optimization",
        action="store_true",
        help="trace without TensorFlow's graph optimiser: shorter warm-up, slower fits",
    )
    parser.add_argument("--covariance", action="store_true", help="write the covariance map")
    parser.add_argument(
        "--circular-err", action="store_true", help="write circular_unc into the result map"
    )
    parser.add_argument(
        "--gof", type=non_negative_int, default=0, metavar="N", help="goodness of fit, N pseudo"
    )
    parser.add_argument("--num-threads", type=non_negative_int, default=0)
    parser.add_argument(
        "--max-frames", type=non_negative_int, default=None, help="stop after this many frames"
    )
    return parser


def oracle_detector_from_file(path: str):
    """The detector table of the first G frame (with the first C frame's calibration)."""
    from egenerator.icetray.geometry import detector_from_geometry
    from icecube import dataio, icetray

    geometry = calibration = None
    i3file = dataio.I3File(path)
    try:
        for frame in i3file:
            if frame.Stop == icetray.I3Frame.Geometry and geometry is None:
                geometry = frame["I3Geometry"]
            if frame.Stop == icetray.I3Frame.Calibration and "I3Calibration" in frame:
                calibration = frame["I3Calibration"]
            if geometry is not None and calibration is not None:
                break
            if frame.Stop in (icetray.I3Frame.DAQ, icetray.I3Frame.Physics):
                break
    finally:
        i3file.close()
    if geometry is None:
        raise ValueError(f"{path}: no G frame before the first event; give --geometry")
    return detector_from_geometry(geometry, calibration=calibration)


def run(args: argparse.Namespace) -> dict:
    """Run the tray; returns a summary (frames written, seconds)."""
    from egenerator.icetray.segments import ApplyEventGeneratorReconstruction
    from icecube import icetray
    from icecube.icetray import I3Tray

    for path in args.inputs:
        if not os.path.exists(path):
            raise ValueError(f"input file '{path}' does not exist")
    module_kwargs = {
        "output_key": args.output_key,
        "seed_keys": list(args.seed_key),
        "batch_size": args.batch_size,
        "add_covariances": args.covariance,
        "add_circular_err": args.circular_err,
        "add_goodness_of_fit": args.gof > 0,
        "num_threads": args.num_threads,
        "time_window_key": args.time_window_key,
    }
    if args.first_guess is not None:
        module_kwargs["num_first_guess"] = args.first_guess
    if args.gof > 0:
        module_kwargs["num_pseudo_events"] = args.gof
    if args.interface is not None:
        module_kwargs["reco_optimizer_interface"] = args.interface
    if args.skip_graph_optimization:
        module_kwargs["reconstruction_settings"] = {"skip_graph_optimization": True}
    if args.oracle:
        from egenerator.detector import DetectorTable

        module_kwargs["model_names"] = "oracle"
        module_kwargs["detector"] = (
            DetectorTable.from_csv(args.geometry)
            if args.geometry
            else oracle_detector_from_file(args.inputs[0])
        )
    else:
        module_kwargs["model_names"] = args.model
    exclusions = (
        args.exclusion_key
        if args.exclusion_key is not None
        else ["BadDomsList", "CalibrationErrata", "SaturationWindows"]
    )
    counts = {"frames": 0, "physics": 0}

    def count(frame):
        counts["frames"] += 1
        counts["physics"] += frame.Stop == icetray.I3Frame.Physics

    start = time.perf_counter()
    tray = I3Tray()
    tray.Add("I3Reader", "reader", FilenameList=list(args.inputs))
    tray.AddSegment(
        ApplyEventGeneratorReconstruction,
        "EventGenerator",
        pulse_key=args.pulse_key,
        dom_and_tw_exclusions=exclusions,
        exclude_bright_doms=not args.keep_bright_doms,
        **module_kwargs,
    )
    tray.Add(count, "count", Streams=[icetray.I3Frame.Physics, icetray.I3Frame.DAQ])
    tray.Add(
        "I3Writer",
        "writer",
        Filename=args.output,
        Streams=[
            icetray.I3Frame.Geometry,
            icetray.I3Frame.Calibration,
            icetray.I3Frame.DetectorStatus,
            icetray.I3Frame.Simulation,
            icetray.I3Frame.DAQ,
            icetray.I3Frame.Physics,
        ],
    )
    if args.max_frames is not None:
        tray.Execute(args.max_frames)
    else:
        tray.Execute()
    return {"events": counts["physics"], "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.geometry and not args.oracle:
        print("apply_model: error: --geometry is for --oracle only", file=sys.stderr)
        return 2
    try:
        summary = run(args)
    except ValueError as error:
        print(f"apply_model: error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.output}: {summary['events']} physics frames reconstructed in "
        f"{summary['seconds']:.1f} s (model load and warm-up included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
