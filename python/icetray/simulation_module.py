"""I3Module ``EventGeneratorSimulation``: pulses for I3Particle hypotheses from the embedded
simulator (PHYSICS.md), written as an ``I3RecoPulseSeriesMap``.

Per frame the cascade parameters are read from an ``I3Particle`` and one event is sampled with
:func:`egenerator.sim.sampler.simulate_events` (vectorised over DOMs and photoelectrons). The
random stream of a frame is derived from the module's ``Seed`` and the frame's event id, so the
output does not depend on which other frames the tray processes. The pulse map is built in C++
(``icecube._egenerator.pulse_map_from_arrays``) when available, else with a loop over DOMs.

A model-based sampler (a trained egenerator model as fast simulator) can replace the physics
sampler later behind the same parameters.

This module imports IceTray at import time (it defines an I3Module); ``egenerator.icetray``
imports it only when ``EventGeneratorSimulation`` is accessed.
"""

from __future__ import annotations

import dataclasses as _dc

import numpy as np

try:
    from icecube import dataclasses, icetray
except ImportError as error:  # pragma: no cover - exercised only without IceTray
    raise ImportError(
        "egenerator.icetray.simulation_module needs IceTray (icecube.icetray, "
        "icecube.dataclasses); run inside an IceTray environment (env-shell.sh)"
    ) from error

from ..detector import DetectorTable, ic86_like
from ..sim.physics import DEFAULT_PHYSICS, PhysicsConfig
from ..sim.sampler import simulate_events
from .geometry import detector_from_geometry

PARAMETER_NAMES = ("x", "y", "z", "zenith", "azimuth", "energy", "time")


def particle_parameters(particle) -> dict[str, float]:
    """Cascade parameters (m, rad, GeV, ns) of an ``I3Particle``."""
    return {
        "x": particle.pos.x / icetray.I3Units.m,
        "y": particle.pos.y / icetray.I3Units.m,
        "z": particle.pos.z / icetray.I3Units.m,
        "zenith": particle.dir.zenith / icetray.I3Units.rad,
        "azimuth": particle.dir.azimuth / icetray.I3Units.rad,
        "energy": particle.energy / icetray.I3Units.GeV,
        "time": particle.time / icetray.I3Units.ns,
    }


def frame_seed(seed: int, frame) -> int:
    """A 63-bit seed from the module seed and the frame's (run, event, sub-event) id."""
    ids = [int(seed)]
    if "I3EventHeader" in frame:
        header = frame["I3EventHeader"]
        ids += [header.run_id, header.event_id, header.sub_event_id]
    state = np.random.SeedSequence(ids).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def pulse_map_from_arrays(string, om, time_ns, charge_pe):
    """An ``I3RecoPulseSeriesMap`` from flat arrays (C++ when built, else a loop over DOMs)."""
    try:
        from icecube import _egenerator
    except ImportError:
        _egenerator = None
    if _egenerator is not None:
        return _egenerator.pulse_map_from_arrays(string, om, time_ns, charge_pe)
    pulse_map = dataclasses.I3RecoPulseSeriesMap()
    if len(string) == 0:
        return pulse_map
    keys = np.asarray(string, dtype=np.int64) * 1000 + np.asarray(om, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    stops = np.r_[starts[1:], len(keys)]
    for a, b in zip(starts, stops, strict=True):
        series = dataclasses.I3RecoPulseSeries()
        for t, q in zip(time_ns[a:b], charge_pe[a:b], strict=True):
            pulse = dataclasses.I3RecoPulse()
            pulse.time = float(t)
            pulse.charge = float(q)
            series.append(pulse)
        pulse_map[icetray.OMKey(int(string[a]), int(om[a]))] = series
    return pulse_map


def _as_local(value, cls, what: str):
    """``value`` as an instance of this package's ``cls``.

    The package can be imported twice in one process (``egenerator`` from pip and
    ``icecube.egenerator`` from the IceTray build); their classes differ, so an object of the
    other copy is rebuilt from its dataclass fields.
    """
    if isinstance(value, cls):
        return value
    if type(value).__name__ == cls.__name__ and _dc.is_dataclass(value):
        return cls(**{f.name: getattr(value, f.name) for f in _dc.fields(value)})
    raise ValueError(
        f"EventGeneratorSimulation: {what} must be a {cls.__name__}, got {type(value).__name__}"
    )


class EventGeneratorSimulation(icetray.I3ConditionalModule):
    """Sample pulses for the I3Particle at ``ParticleKey`` into ``OutputKey``.

    Parameters (tray)
    -----------------
    ParticleKey : str
        Frame key of the cascade hypothesis (I3Particle), default ``MCCascade``.
    OutputKey : str
        Pulses with noise (I3RecoPulseSeriesMap), default ``InIceDSTPulses``.
    NoiselessOutputKey : str or None
        Pulses from cascade light only; None: not written.
    BadDomsKey : str or None
        Writes the dead DOMs of the detector as I3VectorOMKey (unless the key exists).
    Detector : DetectorTable or None
        The detector; None: taken from the G frame (noise 500 Hz, efficiency 1 unless a
        calibration frame came first) or, without a G frame, the ic86-like detector.
    PhysicsConfig : PhysicsConfig
        Simulator constants.
    Seed : int
        Base seed; each frame's stream is derived from it and the frame's event id.
    """

    def __init__(self, context):
        super().__init__(context)
        self.AddParameter("ParticleKey", "I3Particle hypothesis key", "MCCascade")
        self.AddParameter("OutputKey", "output I3RecoPulseSeriesMap key", "InIceDSTPulses")
        self.AddParameter("NoiselessOutputKey", "pulses without noise (None: skip)", None)
        self.AddParameter("BadDomsKey", "I3VectorOMKey of dead DOMs (None: skip)", "BadDomsList")
        self.AddParameter("Detector", "DetectorTable (None: G frame or ic86-like)", None)
        self.AddParameter("PhysicsConfig", "simulator constants", DEFAULT_PHYSICS)
        self.AddParameter("Seed", "base random seed", 0)
        self.AddOutBox("OutBox")

    def Configure(self):
        self.particle_key = self.GetParameter("ParticleKey")
        self.output_key = self.GetParameter("OutputKey")
        self.noiseless_key = self.GetParameter("NoiselessOutputKey")
        self.bad_doms_key = self.GetParameter("BadDomsKey")
        self.detector = self.GetParameter("Detector")
        self.config = self.GetParameter("PhysicsConfig")
        self.seed = int(self.GetParameter("Seed"))
        if self.detector is not None:
            self.detector = _as_local(self.detector, DetectorTable, "Detector")
        self.config = _as_local(self.config, PhysicsConfig, "PhysicsConfig")
        if self.seed < 0:
            raise ValueError(f"EventGeneratorSimulation: Seed must be >= 0, got {self.seed}")
        self._calibration = None

    def Geometry(self, frame):
        if self.GetParameter("Detector") is None:
            self.detector = detector_from_geometry(frame["I3Geometry"], calibration=None)
        self.PushFrame(frame)

    def Calibration(self, frame):
        if self.GetParameter("Detector") is None and "I3Calibration" in frame:
            geometry = frame["I3Geometry"] if "I3Geometry" in frame else None
            if geometry is not None:
                self.detector = detector_from_geometry(geometry, calibration=frame["I3Calibration"])
        self.PushFrame(frame)

    def _simulate(self, frame):
        particle = frame[self.particle_key]
        fixed = particle_parameters(particle)
        if self.detector is None:
            self.detector = ic86_like()
        detector = self.detector
        chunk = next(
            simulate_events(
                1, frame_seed(self.seed, frame), detector, config=self.config, fixed=fixed
            )
        )
        return detector, chunk

    def _write(self, frame, key, detector, dom, time_ns, charge_pe):
        frame[key] = pulse_map_from_arrays(
            detector.string[dom], detector.om[dom], time_ns, charge_pe
        )

    def DAQ(self, frame):
        self._process(frame)

    def Physics(self, frame):
        self._process(frame)

    def _process(self, frame):
        if self.particle_key not in frame:
            # a frame without hypothesis passes unchanged (does not abort the tray)
            self.PushFrame(frame)
            return
        detector, chunk = self._simulate(frame)
        self._write(
            frame,
            self.output_key,
            detector,
            chunk.pulse_dom,
            chunk.pulse_time_ns,
            chunk.pulse_charge_pe,
        )
        if self.noiseless_key:
            self._write(
                frame,
                self.noiseless_key,
                detector,
                chunk.mc_pulse_dom,
                chunk.mc_pulse_time_ns,
                chunk.mc_pulse_charge_pe,
            )
        if self.bad_doms_key and self.bad_doms_key not in frame:
            bad = dataclasses.I3VectorOMKey()
            for d in chunk.bad_doms:
                bad.append(icetray.OMKey(int(detector.string[d]), int(detector.om[d])))
            frame[self.bad_doms_key] = bad
        self.PushFrame(frame)
