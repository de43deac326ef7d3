#!/usr/bin/env python3
"""Simulator speed on one core and output size.

For cascades at fixed energies of 1, 10 and 100 TeV (other parameters drawn as usual) and for the
default spectrum (log-uniform 1 TeV - 1 PeV) on the ic86-like detector: events/s of
:func:`egenerator.sim.sampler.simulate_events` (the process is pinned to one CPU where the OS
allows it; numpy's random generators and sorts are single-threaded; events per CPU second are
printed too, which is the figure to quote on a shared machine), photoelectrons and pulses
per event, and the size of an hdf5 file per 1000 events written with
:func:`egenerator.io.write_simulation` (default spectrum; falls back to the arrays' nbytes, and
says so, if the writer is missing).

Usage: bench_simulate.py [--events N] [--quick] [--seed S]
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

CASES = [
    ("1 TeV", {"energy": 1e3}),
    ("10 TeV", {"energy": 1e4}),
    ("100 TeV", {"energy": 1e5}),
    ("default spectrum", None),
]


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def _run(num_events: int, seed: int, detector, fixed) -> dict:
    from egenerator.sim.sampler import simulate_events

    start = time.perf_counter()
    cpu_start = time.process_time()
    charge = pulses = mc_pulses = 0.0
    for chunk in simulate_events(num_events, seed, detector, fixed=fixed):
        charge += float(chunk.pulse_charge_pe.sum())
        pulses += chunk.pulse_time_ns.size
        mc_pulses += chunk.mc_pulse_time_ns.size
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return {
        "events_per_s": num_events / seconds,
        "events_per_cpu_s": num_events / cpu_seconds,
        "ms_per_event": 1e3 * seconds / num_events,
        "charge_per_event": charge / num_events,
        "pulses_per_event": pulses / num_events,
        "mc_pulses_per_event": mc_pulses / num_events,
    }


def _file_size(num_events: int, seed: int, detector) -> tuple[float, str]:
    from egenerator.sim.sampler import simulate_events

    try:
        from egenerator.io import write_simulation
    except ImportError:
        write_simulation = None
    if write_simulation is None:
        total = 0
        for chunk in simulate_events(num_events, seed, detector):
            total += sum(v.nbytes for v in vars(chunk).values() if isinstance(v, np.ndarray))
        return total / 1e6 / (num_events / 1000), "estimated from array nbytes (no writer)"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.hdf5")
        write_simulation(path, simulate_events(num_events, seed, detector), detector)
        size = os.path.getsize(path)
    return size / 1e6 / (num_events / 1000), "hdf5 file written by egenerator.io.write_simulation"


def main() -> None:
    from bench_common import add_common_arguments, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="events per case")
    parser.add_argument("--quick", action="store_true", help="few events (a smoke run)")
    parser.add_argument("--seed", type=int, default=2024)
    add_common_arguments(parser)
    args = parser.parse_args()
    figures: dict = {"cases": {}}
    num_events = args.events or (60 if args.quick else 600)

    from egenerator.detector import ic86_like

    pinning = _pin_one_core()
    detector = ic86_like()
    _run(4, args.seed + 99, detector, None)  # warm up imports and caches
    print(f"bench_simulate: {num_events} events per case, ic86-like detector, {pinning}")
    if hasattr(os, "getloadavg"):
        print(
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
            "(events/s is wall time; ev/cpu-s counts only this process's CPU time)"
        )
    print(
        f"{'case':<18}{'events/s':>10}{'ev/cpu-s':>10}{'ms/event':>10}{'PE/event':>11}"
        f"{'pulses/ev':>11}"
    )
    for name, fixed in CASES:
        r = _run(num_events, args.seed, detector, fixed)
        figures["cases"][name] = r
        print(
            f"{name:<18}{r['events_per_s']:>10.1f}{r['events_per_cpu_s']:>10.1f}"
            f"{r['ms_per_event']:>10.2f}"
            f"{r['charge_per_event']:>11.0f}{r['pulses_per_event']:>11.0f}"
        )
    size_events = max(num_events // 2, 20)
    mb, how = _file_size(size_events, args.seed, detector)
    print(
        f"output size (default spectrum, {size_events} events): {mb:.2f} MB per 1000 events, {how}"
    )
    figures.update(events_per_case=num_events, mb_per_1000_events=mb, pinning=str(pinning))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
