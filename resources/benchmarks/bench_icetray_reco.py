#!/usr/bin/env python
"""Reconstruction throughput: the IceTray segment vs the standalone engine on the same events.

The same simulated events (charges rounded to float32 as an I3RecoPulse stores them) are written
as an I3 file (G, C, Q + P frames) and as an hdfwriter file. Then, with one warmed-up engine
(the warm-up is reported once and excluded from the throughput):

- standalone: ``reconstruct_files`` on the hdf5 file (read, seed from MCCascade, fit, write)
- tray:       I3Reader -> ApplyEventGenerator -> I3Writer on the I3 file (batch_size B)
- tray-b1:    the same with batch_size 1 (one frame per fit), unless --quick

Events per second are over the whole run (I/O included), and the fit time alone (the engine's
``runtime_reco``); the largest difference of the fitted parameters between tray and standalone
is printed as a check. The oracle on --oracle-events events (it is slow); an exported model
with --model DIR on --events events (on its detector).

Run inside the IceTray environment:
    /work/icetray/build/env-shell.sh /work/main/.venv/bin/python \
        resources/benchmarks/bench_icetray_reco.py --model demo_output/model --events 64
Without IceTray only the standalone figures are measured.
"""

from __future__ import annotations

import argparse
import dataclasses as dc
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from egenerator.icetray.hdf5_compat import import_hdf5_modules

import_hdf5_modules()  # h5py / PyTables before IceTray's HDF5 (see hdf5_compat)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SEED_KEY = "MCCascade"


def icetray_available() -> bool:
    try:
        from icecube import dataclasses, dataio, icetray  # noqa: F401
    except ImportError:
        return False
    return True


def write_events(directory: Path, detector, num_events: int, seed: int, energy_range, i3: bool):
    """(hdf5 path, I3 path or None) holding the same simulated events."""
    from egenerator.io.writer import write_simulation
    from egenerator.sim.sampler import concatenate_chunks, simulate_events

    sim = concatenate_chunks(
        list(simulate_events(num_events, seed, detector, energy_range_gev=tuple(energy_range)))
    )
    sim = dc.replace(sim, pulse_charge_pe=sim.pulse_charge_pe.astype(np.float32).astype(np.float64))
    h5 = directory / "events.hdf5"
    write_simulation(h5, [sim], detector)
    if not i3:
        return h5, None, sim
    spec = importlib.util.spec_from_file_location("_simulate_i3", SCRIPTS / "simulate_i3.py")
    simulate_i3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(simulate_i3)
    path = directory / "events.i3"
    simulate_i3.write_frames(path, [sim], detector)
    return h5, path, sim


def run_standalone(engine, h5: Path, output: Path, batch_size: int) -> dict:
    from egenerator.reco.driver import TRAY_EQUIVALENT_DATA_SETTINGS, reconstruct_files

    setup = dc.replace(
        engine.setup,
        data_handler_settings=TRAY_EQUIVALENT_DATA_SETTINGS,
    )
    start = time.perf_counter()
    summary = reconstruct_files(
        setup,
        [h5],
        output,
        settings=engine.settings,
        seed_keys=[SEED_KEY],
        num_first_guess=0,
        batch_size=batch_size,
        copy_keys=(),
        reconstructor=engine.reconstructor,
    )
    seconds = time.perf_counter() - start
    import pandas as pd

    table = pd.read_hdf(output, "EventGenerator")
    return {
        "events": summary.num_events,
        "seconds": seconds,
        "fit_seconds": summary.runtimes_s.get("reco", float("nan")),
        "parameters": table[list(engine.parameter_names)].to_numpy(),
        "ok": int(np.sum(table["fit_status"] == 0)),
    }


def run_tray(
    model: str, detector, overrides: dict, i3: Path, output: Path, batch_size: int, names
) -> dict:
    from egenerator.icetray.segments import ApplyEventGenerator
    from icecube import icetray
    from icecube.icetray import I3Tray

    results = []

    def collect(frame):
        results.append(frame["EventGenerator"])

    tray = I3Tray()
    tray.Add("I3Reader", FilenameList=[str(i3)])
    tray.AddSegment(
        ApplyEventGenerator,
        "EG",
        model_names=model,
        detector=detector,
        seed_keys=[SEED_KEY],
        time_window_key="InIceDSTPulsesTimeRange",
        batch_size=batch_size,
        **overrides,
    )
    tray.Add(collect, Streams=[icetray.I3Frame.Physics])
    tray.Add("I3Writer", Filename=str(output))
    start = time.perf_counter()
    tray.Execute()
    seconds = time.perf_counter() - start
    return {
        "events": len(results),
        "seconds": seconds,
        "fit_seconds": float(sum(r["runtime_reco"] for r in results)),
        "parameters": np.array([[r[name] for name in names] for r in results]),
        "ok": int(sum(r["fit_status"] == 0 for r in results)),
    }


def bench_model(
    label: str, model: str, args, tmp: Path, have_icetray: bool, num_events: int
) -> list[dict]:
    """Rows of one model (oracle or an export folder)."""
    from egenerator.detector import ic86_like
    from egenerator.icetray.reco_engine import load_engine, resolve_model

    overrides = {"reco_optimizer_interface": args.interface} if args.interface else {}
    if model == "oracle":
        detector = ic86_like()
    else:
        model = resolve_model(model, None)
        detector = None
    start = time.perf_counter()
    engine = load_engine(model, detector=detector, settings_overrides=overrides)
    load_s = time.perf_counter() - start
    warm_s = engine.warm_up()
    detector = engine.detector
    directory = tmp / label
    directory.mkdir()
    h5, i3, _ = write_events(
        directory, detector, num_events, args.seed, args.energy_range, have_icetray
    )
    print(
        f"{label}: {num_events} events on {detector.source} ({detector.num_doms} DOMs), E in "
        f"{tuple(args.energy_range)} GeV, {engine.settings.interface} minimiser; load "
        f"{load_s:.1f} s, warm-up {warm_s:.1f} s",
        flush=True,
    )
    rows = []
    standalone = run_standalone(engine, h5, directory / "standalone.hdf5", args.batch_size)
    rows.append({"model": label, "path": f"standalone (B={args.batch_size})", **standalone})
    if have_icetray:
        model_arg = "oracle" if model == "oracle" else model
        tray_detector = detector if model == "oracle" else None
        sizes = [args.batch_size] + ([] if args.quick or args.batch_size == 1 else [1])
        for size in sizes:
            result = run_tray(
                model_arg,
                tray_detector,
                overrides,
                i3,
                directory / f"tray_{size}.i3",
                size,
                engine.parameter_names,
            )
            if size == args.batch_size:
                diff = np.abs(result["parameters"] - standalone["parameters"])
                with np.errstate(invalid="ignore"):
                    result["max_abs_diff"] = float(np.nanmax(diff)) if diff.size else 0.0
            rows.append({"model": label, "path": f"tray (B={size})", **result})
    for row in rows:
        row.pop("parameters", None)
        row["events_per_s"] = row["events"] / row["seconds"]
        row["fit_events_per_s"] = row["events"] / row["fit_seconds"]
        row["warm_up_s"] = warm_s
    return rows


def main() -> int:
    from bench_common import add_common_arguments, write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=64, help="events for --model")
    parser.add_argument(
        "--oracle-events",
        type=int,
        default=2,
        help="events for the oracle (~0.5-1 min each and path on 2 cores; 0 skips it)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--energy-range", type=float, nargs=2, default=(1e3, 1e5))
    parser.add_argument("--interface", choices=("batched", "scipy"), default=None)
    parser.add_argument("--model", default=None, metavar="DIR", help="also an exported model")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (0: default)")
    add_common_arguments(parser, quick_help="8 events, no batch-size-1 tray run")
    args = parser.parse_args()
    if args.quick:
        args.events = min(args.events, 8)
        args.oracle_events = min(args.oracle_events, 1)
    if args.threads > 0:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    have_icetray = icetray_available()
    if not have_icetray:
        print("IceTray not importable: only the standalone engine is timed")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.oracle_events > 0:
            rows += bench_model(
                "oracle", "oracle", args, Path(tmp), have_icetray, args.oracle_events
            )
        if args.model:
            rows += bench_model(
                "model", os.fspath(args.model), args, Path(tmp), have_icetray, args.events
            )
    print(
        f"{'model':<7} {'path':<20} {'events':>6} {'ok':>4} {'total s':>8} {'events/s':>9} "
        f"{'fit s':>7} {'fit ev/s':>9} {'max|dp|':>9}"
    )
    for r in rows:
        diff = r.get("max_abs_diff")
        print(
            f"{r['model']:<7} {r['path']:<20} {r['events']:>6} {r['ok']:>4} {r['seconds']:>8.2f} "
            f"{r['events_per_s']:>9.2f} {r['fit_seconds']:>7.2f} {r['fit_events_per_s']:>9.2f} "
            f"{'' if diff is None else f'{diff:.1e}':>9}"
        )
    write_json(args.json, {"threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
