#!/usr/bin/env python
"""Frame -> flat arrays per event: C++ (icecube._egenerator) vs the numpy reference.

Events come from the embedded simulator on the ic86-like detector (5160 DOMs), with a
``BadDomsList``, ``SaturationWindows`` (a few DOMs) and ``CalibrationErrata`` (infinite windows)
per frame, and the pulses behind a mask (``SplitInIceDSTPulses``), as in processing.

Timed per event (median over events, after one warm-up):
- cpp:        FrameConverter(use_cpp=True).convert(frame)   (reads frame objects in C++)
- numpy:      FrameConverter(use_cpp=False).convert(frame)  (Python reads frame, numpy logic)
- numpy-flat: apply_exclusions on already flat arrays        (numpy logic alone)

Run inside the IceTray environment:
    /work/icetray/build/env-shell.sh /work/main/.venv/bin/python \
        resources/benchmarks/bench_icetray.py --events 50
Without IceTray only the numpy-flat timing is printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from egenerator.detector import ic86_like
from egenerator.icetray.exclusions import ExclusionSettings, TimeWindowMap, apply_exclusions
from egenerator.sim.sampler import concatenate_chunks, simulate_events


def median_ms(function, items) -> float:
    function(items[0])  # warm-up
    times = []
    for item in items:
        start = time.perf_counter()
        function(item)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def synthetic_exclusions(rng, detector, event_doms):
    """(bad DOM pairs [K, 2], saturation TimeWindowMap, errata TimeWindowMap) of one event."""
    bad = np.stack([detector.string[detector.dead], detector.om[detector.dead]], axis=1)
    hit = np.unique(event_doms)
    sat = rng.choice(hit, size=min(3, len(hit)), replace=False)
    start = rng.uniform(9000.0, 12000.0, len(sat))
    saturation = TimeWindowMap(detector.string[sat], detector.om[sat], start, start + 2000.0)
    err = rng.choice(detector.num_doms, size=2, replace=False)
    errata = TimeWindowMap(
        detector.string[err], detector.om[err], np.full(2, -np.inf), np.full(2, np.inf)
    )
    return bad, saturation, errata


def main() -> int:
    from bench_common import add_common_arguments, write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--energy-range", type=float, nargs=2, default=(1e4, 1e5))
    add_common_arguments(parser, quick_help="10 events")
    args = parser.parse_args()
    if args.quick:
        args.events = min(args.events, 10)

    detector = ic86_like()
    sim = concatenate_chunks(
        list(
            simulate_events(
                args.events, args.seed, detector, energy_range_gev=tuple(args.energy_range)
            )
        )
    )
    rng = np.random.default_rng(args.seed)
    settings = ExclusionSettings()
    events = []
    for k in range(sim.num_events):
        sel = sim.pulse_event == k
        dom = sim.pulse_dom[sel]
        exclusions = synthetic_exclusions(rng, detector, dom)
        events.append(
            (
                detector.string[dom],
                detector.om[dom],
                sim.pulse_time_ns[sel],
                sim.pulse_charge_pe[sel],
                exclusions,
            )
        )
    pulses_per_event = np.mean([len(e[2]) for e in events])
    print(
        f"{sim.num_events} events on {detector.source} ({detector.num_doms} DOMs), "
        f"E in {args.energy_range} GeV, {pulses_per_event:.0f} pulses per event"
    )

    def numpy_flat(event):
        string, om, time_ns, charge, (bad, saturation, errata) = event
        return apply_exclusions(
            string, om, time_ns, charge, detector, [bad], [errata, saturation], settings
        )

    rows = [("numpy-flat", median_ms(numpy_flat, events))]

    try:
        from icecube import dataclasses, icetray
    except ImportError:
        icetray = None
    if icetray is not None:
        from egenerator.icetray.frame_conversion import FrameConverter, cpp_converter_available
        from egenerator.icetray.simulation_module import pulse_map_from_arrays

        frames = []
        for string, om, time_ns, charge, (bad, saturation, errata) in events:
            frame = icetray.I3Frame(icetray.I3Frame.Physics)
            frame["InIceDSTPulses"] = pulse_map_from_arrays(string, om, time_ns, charge)
            frame["SplitInIceDSTPulses"] = dataclasses.I3RecoPulseSeriesMapMask(
                frame, "InIceDSTPulses"
            )
            bad_list = dataclasses.I3VectorOMKey()
            for s, o in bad:
                bad_list.append(icetray.OMKey(int(s), int(o)))
            frame["BadDomsList"] = bad_list
            for key, table in (("SaturationWindows", saturation), ("CalibrationErrata", errata)):
                windows = dataclasses.I3TimeWindowSeriesMap()
                for s, o, a, b in zip(
                    table.string, table.om, table.start_ns, table.stop_ns, strict=True
                ):
                    series = dataclasses.I3TimeWindowSeries()
                    series.append(dataclasses.I3TimeWindow(float(a), float(b)))
                    windows[icetray.OMKey(int(s), int(o))] = series
                frame[key] = windows
            frames.append(frame)
        keys = ["BadDomsList", "CalibrationErrata", "SaturationWindows"]
        reference = FrameConverter(detector, "SplitInIceDSTPulses", keys, settings, use_cpp=False)
        rows.append(("numpy", median_ms(reference.convert, frames)))
        if cpp_converter_available():
            cpp = FrameConverter(detector, "SplitInIceDSTPulses", keys, settings, use_cpp=True)
            rows.append(("cpp", median_ms(cpp.convert, frames)))
            same = all(
                np.array_equal(cpp.convert(f).pulse_time_ns, reference.convert(f).pulse_time_ns)
                for f in frames
            )
            print(f"cpp == numpy pulse times on all events: {same}")
        else:
            print("icecube._egenerator not built: no C++ timing")
    else:
        print("IceTray not importable: only the numpy reference on flat arrays is timed")

    print(f"{'path':<12} {'ms/event':>10}")
    for name, ms in rows:
        print(f"{name:<12} {ms:>10.3f}")
    write_json(
        args.json,
        {
            "events": sim.num_events,
            "pulses_per_event": pulses_per_event,
            "ms_per_event": dict(rows),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
