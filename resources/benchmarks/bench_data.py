#!/usr/bin/env python3
"""Data pipeline speed: events/s from hdf5 files on disk into ready batches, and peak memory.

Simulates (once, cached in --workdir) files of 10 TeV cascades and of the default spectrum
(log-uniform 1 TeV - 1 PeV) on the ic86-like detector with the embedded simulator, then reads
them with the event loader into batches of 32 events:

- ``batches``: :func:`egenerator.data.pipeline.iterate_batches` (EventBatch objects);
- ``tf.data``: :func:`egenerator.data.pipeline.make_dataset` (dicts of tensors, prefetched);

with 1 and 2 reader threads. Every configuration runs in a fresh subprocess so that its peak
resident memory (ru_maxrss) is its own; the figure after imports is printed too. Besides
wall-clock events/s it prints events per CPU-second of the process (all threads), which is
what a machine shared with other jobs still measures reliably. Files are in
the page cache (read right after being written or on an earlier run).

Usage: bench_data.py [--events-per-file N] [--files K] [--workdir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

PARAMS = [
    "cascade_x",
    "cascade_y",
    "cascade_z",
    "cascade_zenith",
    "cascade_azimuth",
    "cascade_energy",
    "cascade_time",
]
SETTINGS = {
    "data_settings": {"pulse_key": "InIceDSTPulses", "dom_exclusions_key": ["BadDomsList"]},
    "label_settings": {"label_key": "LabelsDeepLearning"},
}
SPECTRA = {"10TeV": {"energy": 1.0e4}, "default": None}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_files(workdir: str, spectrum: str, num_files: int, events_per_file: int) -> str:
    """Simulate the files of one spectrum (skipped where they exist); returns the glob."""
    from egenerator.detector import ic86_like
    from egenerator.io.writer import write_simulation
    from egenerator.sim.sampler import simulate_events

    detector = ic86_like()
    directory = os.path.join(workdir, f"{spectrum}_{events_per_file}")
    os.makedirs(directory, exist_ok=True)
    for k in range(num_files):
        path = os.path.join(directory, f"file_{k:02d}.hdf5")
        if os.path.exists(path):
            continue
        events = simulate_events(
            events_per_file, 1000 + k, detector, fixed=SPECTRA[spectrum], run_id=k + 1
        )
        info = write_simulation(path + ".part", events, detector)
        os.replace(path + ".part", path)
        print(
            f"  simulated {path}: {info['events']} events, "
            f"{info['pulses'] / info['events']:.0f} pulses/event",
            flush=True,
        )
    return os.path.join(directory, "*.hdf5")


def measure(pattern: str, mode: str, num_jobs: int, repeats: int) -> dict:
    """One configuration (run in a child process): events/s and peak RSS."""
    from egenerator.detector import ic86_like

    detector = ic86_like()
    if mode == "tf.data":
        import tensorflow as tf
        from egenerator.data.pipeline import make_dataset

        tf.constant(0)  # initialise the runtime before timing
    else:
        from egenerator.data.pipeline import iterate_batches
    rss_after_imports = _rss_mib()
    rates, cpu_rates, pulses, events = [], [], 0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        cpu_start = _cpu_s()
        events = pulses = 0
        if mode == "tf.data":
            dataset = make_dataset(
                pattern,
                SETTINGS,
                PARAMS,
                detector,
                batch_size=32,
                sample_randomly=False,
                num_jobs=num_jobs,
            )
            for batch in dataset:
                events += int(batch["dom_charge"].shape[0])
                pulses += int(batch["pulse_time_ns"].shape[0])
        else:
            with iterate_batches(
                pattern, SETTINGS, PARAMS, detector, batch_size=32, num_jobs=num_jobs
            ) as stream:
                for batch in stream:
                    events += batch.num_events
                    pulses += batch.num_pulses
        rates.append(events / (time.perf_counter() - start))
        cpu_rates.append(events / max(_cpu_s() - cpu_start, 1e-9))
    return {
        "events": events,
        "pulses_per_event": pulses / max(events, 1),
        "events_per_s_best": max(rates),
        "events_per_s_median": sorted(rates)[len(rates) // 2],
        "events_per_cpu_s": max(cpu_rates),
        "rss_after_imports_mib": rss_after_imports,
        "peak_rss_mib": _rss_mib(),
    }


def main(argv: list[str] | None = None) -> int:
    from bench_common import add_common_arguments, write_json  # next to this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-file", type=int, default=500)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "egen_bench_data"))
    parser.add_argument("--quick", action="store_true", help="100 events per file, 2 files")
    parser.add_argument(
        "--child", nargs=3, metavar=("PATTERN", "MODE", "JOBS"), help=argparse.SUPPRESS
    )
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.child:
        pattern, mode, jobs = args.child
        print(json.dumps(measure(pattern, mode, int(jobs), args.repeats)))
        return 0
    if args.quick:
        args.events_per_file, args.files, args.repeats = 100, 2, 1
    print(
        f"bench_data: batch 32, {args.files} files x {args.events_per_file} events, "
        f"{os.cpu_count()} CPUs, best of {args.repeats}",
        flush=True,
    )
    rows = []
    for spectrum in SPECTRA:
        pattern = make_files(args.workdir, spectrum, args.files, args.events_per_file)
        for mode in ("batches", "tf.data"):
            for jobs in (1, 2):
                child = subprocess.run(
                    [
                        sys.executable,
                        os.path.abspath(__file__),
                        "--repeats",
                        str(args.repeats),
                        "--child",
                        pattern,
                        mode,
                        str(jobs),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if child.returncode != 0:
                    print(child.stderr, file=sys.stderr)
                    return child.returncode
                result = json.loads(child.stdout.strip().splitlines()[-1])
                rows.append((spectrum, mode, jobs, result))
    print(
        f"{'spectrum':<9} {'mode':<8} {'jobs':>4} {'pulses/ev':>9} {'events/s':>9} "
        f"{'median':>9} {'ev/CPU-s':>9} {'RSS0 MiB':>9} {'peak MiB':>9}"
    )
    for spectrum, mode, jobs, r in rows:
        print(
            f"{spectrum:<9} {mode:<8} {jobs:>4} {r['pulses_per_event']:>9.0f} "
            f"{r['events_per_s_best']:>9.0f} {r['events_per_s_median']:>9.0f} "
            f"{r['events_per_cpu_s']:>9.0f} "
            f"{r['rss_after_imports_mib']:>9.0f} {r['peak_rss_mib']:>9.0f}"
        )
    print(
        f"load average at end: {os.getloadavg()[0]:.1f} (events/s are wall-clock; on a "
        "shared machine compare ev/CPU-s)"
    )
    write_json(
        args.json,
        {
            "batch_size": 32,
            "files": args.files,
            "events_per_file": args.events_per_file,
            "load_average_end": os.getloadavg()[0],
            "rows": [
                {"spectrum": spectrum, "mode": mode, "jobs": jobs, **result}
                for spectrum, mode, jobs, result in rows
            ],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
