#!/usr/bin/env python
"""Simulate cascades with the embedded simulator and write an IceTray I3 file.

Frames: one G frame (I3Geometry of the detector table), one C frame (I3Calibration with the
relative DOM efficiencies and noise rates), then per event a Q frame (I3EventHeader,
MCCascade, InIceDSTPulses, MCPulsesWithoutNoise, InIceDSTPulsesTimeRange, BadDomsList,
LabelsDeepLearning) and a P frame (I3EventHeader of sub-event stream InIceSplit and
SplitInIceDSTPulses, a mask selecting all InIceDSTPulses).

The events are those of ``egenerator simulate`` with the same seed (same sampler, same random
streams), so an I3 file and an hdf5 file of one seed hold identical events; the conventions
(event ids, MCCascade fields, event clock) follow ``egenerator.io.simulation_tables``.

Run inside the IceTray environment, e.g.
    /work/icetray/build/env-shell.sh /work/main/.venv/bin/python \
        resources/scripts/simulate_i3.py --events 10 --seed 1 --output sim.i3.zst
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from egenerator.detector import DetectorTable, ic86_like
from egenerator.icetray.geometry import calibration_from_detector, geometry_from_detector
from egenerator.icetray.simulation_module import pulse_map_from_arrays
from egenerator.sim.physics import DEFAULT_PHYSICS
from egenerator.sim.sampler import simulate_events
from icecube import dataclasses, dataio, icetray

CLOCK_START_MJD_DAY = 58849  # 2020-01-01, as egenerator.io.simulation_tables
SECONDS_PER_DAY = 86400
LABEL_NAMES = (
    "cascade_x",
    "cascade_y",
    "cascade_z",
    "cascade_zenith",
    "cascade_azimuth",
    "cascade_energy",
    "cascade_t",
)


def i3time(seconds: float):
    """I3Time ``seconds`` after 2020-01-01 00:00 UTC."""
    whole = int(np.floor(seconds))
    t = dataclasses.I3Time()
    t.set_mod_julian_time(
        CLOCK_START_MJD_DAY + whole // SECONDS_PER_DAY,
        whole % SECONDS_PER_DAY,
        (seconds - whole) * 1e9,
    )
    return t


def cascade_particle(parameters: np.ndarray):
    """The MCCascade I3Particle: an electron cascade at the true vertex."""
    x, y, z, zenith, azimuth, energy, t0 = (float(v) for v in parameters)
    particle = dataclasses.I3Particle()
    particle.pos = dataclasses.I3Position(x, y, z)
    particle.dir = dataclasses.I3Direction(zenith, azimuth)
    particle.energy = energy * icetray.I3Units.GeV
    particle.time = t0 * icetray.I3Units.ns
    particle.type = dataclasses.I3Particle.ParticleType.EMinus
    particle.shape = dataclasses.I3Particle.ParticleShape.Cascade
    particle.location_type = dataclasses.I3Particle.LocationType.InIce
    particle.speed = dataclasses.I3Constants.c
    particle.length = 0.0
    return particle


def event_frames(chunk, k: int, detector: DetectorTable, bad_doms):
    """(Q frame, P frame) of event ``k`` of a SimulatedEvents chunk."""
    header = dataclasses.I3EventHeader()
    header.run_id = int(chunk.run_id)
    header.event_id = int(chunk.event_number[k])
    header.sub_event_id = 0
    header.sub_event_stream = ""
    start_ns, stop_ns = chunk.readout_window_ns[k]
    header.start_time = i3time(float(chunk.event_number[k]))
    header.end_time = i3time(float(chunk.event_number[k]) + (stop_ns - start_ns) * 1e-9)

    q = icetray.I3Frame(icetray.I3Frame.DAQ)
    q["I3EventHeader"] = header
    q["MCCascade"] = cascade_particle(chunk.parameters[k])
    sel = chunk.pulse_event == k
    dom = chunk.pulse_dom[sel]
    q["InIceDSTPulses"] = pulse_map_from_arrays(
        detector.string[dom], detector.om[dom], chunk.pulse_time_ns[sel], chunk.pulse_charge_pe[sel]
    )
    mc = chunk.mc_pulse_event == k
    mc_dom = chunk.mc_pulse_dom[mc]
    q["MCPulsesWithoutNoise"] = pulse_map_from_arrays(
        detector.string[mc_dom],
        detector.om[mc_dom],
        chunk.mc_pulse_time_ns[mc],
        chunk.mc_pulse_charge_pe[mc],
    )
    q["InIceDSTPulsesTimeRange"] = dataclasses.I3TimeWindow(float(start_ns), float(stop_ns))
    q["BadDomsList"] = bad_doms
    labels = dataclasses.I3MapStringDouble()
    for name, value in zip(LABEL_NAMES, chunk.parameters[k], strict=True):
        labels[name] = float(value)
    q["LabelsDeepLearning"] = labels

    p = icetray.I3Frame(icetray.I3Frame.Physics)
    split_header = dataclasses.I3EventHeader(header)
    split_header.sub_event_stream = "InIceSplit"
    p["I3EventHeader"] = split_header
    p["SplitInIceDSTPulses"] = dataclasses.I3RecoPulseSeriesMapMask(q, "InIceDSTPulses")
    return q, p


def write_frames(path: str, chunks, detector: DetectorTable) -> int:
    """Write the G and C frames of ``detector`` and the Q + P frames of every simulated event
    in ``chunks`` (an iterable of SimulatedEvents) to ``path``; returns the number of pulses."""
    out = dataio.I3File(str(path), "w")
    g = icetray.I3Frame(icetray.I3Frame.Geometry)
    g["I3Geometry"] = geometry_from_detector(detector)
    out.push(g)
    c = icetray.I3Frame(icetray.I3Frame.Calibration)
    c["I3Calibration"] = calibration_from_detector(detector)
    out.push(c)
    bad_doms = dataclasses.I3VectorOMKey()
    for d in np.flatnonzero(detector.dead):
        bad_doms.append(icetray.OMKey(int(detector.string[d]), int(detector.om[d])))
    num_pulses = 0
    for chunk in chunks:
        num_pulses += len(chunk.pulse_time_ns)
        for k in range(chunk.num_events):
            for frame in event_frames(chunk, k, detector, bad_doms):
                out.push(frame)
    out.close()
    return num_pulses


def write_i3(
    path: str,
    num_events: int,
    seed: int,
    detector: DetectorTable,
    energy_range_gev: tuple[float, float] | None = None,
    chunk_size: int = 64,
) -> dict[str, float]:
    """Simulate ``num_events`` events and write them to ``path``; returns a summary."""
    started = time.perf_counter()
    chunks = simulate_events(
        num_events,
        seed,
        detector,
        config=DEFAULT_PHYSICS,
        energy_range_gev=energy_range_gev,
        chunk_size=chunk_size,
    )
    num_pulses = write_frames(path, chunks, detector)
    return {
        "events": num_events,
        "pulses": num_pulses,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="I3 file to write (.i3, .i3.gz, .i3.zst)")
    parser.add_argument("--events", type=int, default=10, help="number of events")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--geometry", default=None, help="detector CSV (default: ic86-like)")
    parser.add_argument(
        "--energy-range",
        type=float,
        nargs=2,
        default=None,
        metavar=("EMIN", "EMAX"),
        help="log-uniform energy range [GeV]",
    )
    parser.add_argument("--chunk-size", type=int, default=64, help="events simulated at once")
    args = parser.parse_args(argv)
    if args.events < 0:
        parser.error(f"--events must be >= 0, got {args.events}")
    try:
        detector = DetectorTable.from_csv(args.geometry) if args.geometry else ic86_like()
        summary = write_i3(
            args.output,
            args.events,
            args.seed,
            detector,
            tuple(args.energy_range) if args.energy_range else None,
            args.chunk_size,
        )
    except ValueError as error:
        print(f"simulate_i3: error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.output}: {summary['events']} events, {summary['pulses']} pulses, "
        f"detector {detector.source} ({detector.num_doms} DOMs), {summary['seconds']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
