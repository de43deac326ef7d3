"""The IceTray layer with IceTray present: C++ vs numpy conversion, geometry, I3 files.

Skipped where ``icecube.icetray`` does not import. Run inside the IceTray build environment:
``/work/icetray/build/env-shell.sh /work/main/.venv/bin/python -m pytest -q
resources/test/test_icetray_layer.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

icetray = pytest.importorskip("icecube.icetray")
dataclasses = pytest.importorskip("icecube.dataclasses")

from egenerator.detector import DetectorTable, ic86_like  # noqa: E402
from egenerator.icetray.exclusions import (  # noqa: E402
    ExclusionSettings,
    FrameConversionError,
    apply_exclusions,
)
from egenerator.icetray.frame_conversion import (  # noqa: E402
    FrameConverter,
    cpp_converter_available,
    flatten_pulse_map,
)
from egenerator.icetray.geometry import (  # noqa: E402
    GeometryMismatchError,
    calibration_from_detector,
    detector_from_geometry,
    geometry_from_detector,
)

pytestmark = pytest.mark.icetray

EXCLUSION_KEYS = ["BadDomsList", "CalibrationErrata", "SaturationWindows", "NotInFrame"]
requires_cpp = pytest.mark.skipif(
    not cpp_converter_available(), reason="icecube._egenerator (C++ converter) not built"
)


@pytest.fixture(scope="module")
def detector() -> DetectorTable:
    return ic86_like()


def python_pulse_map(string, om, time, charge):
    """An I3RecoPulseSeriesMap built with the dataclasses API (one object per pulse)."""
    pulse_map = dataclasses.I3RecoPulseSeriesMap()
    for s, o in sorted(set(zip(string.tolist(), om.tolist(), strict=True))):
        series = dataclasses.I3RecoPulseSeries()
        sel = (string == s) & (om == o)
        for t, q in zip(time[sel], charge[sel], strict=True):
            pulse = dataclasses.I3RecoPulse()
            pulse.time = float(t)
            pulse.charge = float(q)
            series.append(pulse)
        pulse_map[icetray.OMKey(int(s), int(o))] = series
    return pulse_map


def random_frame(rng, detector: DetectorTable, num_pulses: int = 400):
    """A physics frame with pulses (some IceTop), DOM lists and window maps."""
    centre = rng.integers(0, detector.num_doms)
    near = np.argsort(np.linalg.norm(detector.positions - detector.positions[centre], axis=1))
    doms = near[rng.integers(0, 60, num_pulses)]
    string = detector.string[doms].astype(np.int64)
    om = detector.om[doms].astype(np.int64)
    string[:4], om[:4] = [1, 1, 2, 40], [61, 62, 63, 64]  # IceTop
    time = np.round(rng.uniform(9000.0, 11000.0, num_pulses), 1)
    charge = np.round(rng.gamma(1.0, 2.0, num_pulses), 3)
    if rng.random() < 0.5:
        charge[10:60] = 40.0
        string[10:60], om[10:60] = string[10], om[10]  # a bright DOM
    frame = icetray.I3Frame(icetray.I3Frame.Physics)
    frame["Pulses"] = python_pulse_map(string, om, time, charge)
    bad = dataclasses.I3VectorOMKey()
    for d in near[rng.integers(0, 60, 3)]:
        bad.append(icetray.OMKey(int(detector.string[d]), int(detector.om[d])))
    bad.append(icetray.OMKey(1, 61))
    frame["BadDomsList"] = bad
    for key, count in (("SaturationWindows", 6), ("CalibrationErrata", 3)):
        windows = dataclasses.I3TimeWindowSeriesMap()
        for d in near[rng.integers(0, 60, count)]:
            series = dataclasses.I3TimeWindowSeries()
            start = float(np.round(rng.uniform(8900.0, 11000.0), 1))
            series.append(dataclasses.I3TimeWindow(start, start + float(rng.uniform(1, 800))))
            if key == "CalibrationErrata":
                series = dataclasses.I3TimeWindowSeries()
                series.append(dataclasses.I3TimeWindow())  # (-inf, inf)
            windows[icetray.OMKey(int(detector.string[d]), int(detector.om[d]))] = series
        frame[key] = windows
    return frame, (string, om, time, charge)


def assert_arrays_equal(a, b):
    for name in (
        "pulse_time_ns",
        "pulse_charge_pe",
        "pulse_dom",
        "dom_valid",
        "window_start_ns",
        "window_stop_ns",
        "window_dom",
        "bright_doms",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.dom_charge_pe, b.dom_charge_pe, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------- conversion
def test_python_flatten_matches_flat_input(detector):
    rng = np.random.default_rng(1)
    frame, (string, om, time, charge) = random_frame(rng, detector)
    s, o, t, q = flatten_pulse_map(frame["Pulses"])
    order = np.lexsort((np.arange(len(string)), om, string))  # map order: by OMKey, stable
    np.testing.assert_array_equal(s, string[order])
    np.testing.assert_array_equal(o, om[order])
    np.testing.assert_array_equal(t, time[order])
    np.testing.assert_array_equal(q, charge[order].astype(np.float32))  # I3RecoPulse: float


@requires_cpp
@pytest.mark.parametrize("partial", [True, False])
@pytest.mark.parametrize("merge", [None, 20.0])
def test_cpp_equals_numpy_reference(detector, partial, merge):
    rng = np.random.default_rng(11)
    settings = ExclusionSettings(partial_exclusion=partial, merge_pulses_time_threshold_ns=merge)
    cpp = FrameConverter(detector, "Pulses", EXCLUSION_KEYS, settings, use_cpp=True)
    ref = FrameConverter(detector, "Pulses", EXCLUSION_KEYS, settings, use_cpp=False)
    num_bright = 0
    for _ in range(8):
        frame, _ = random_frame(rng, detector)
        a, b = cpp.convert(frame), ref.convert(frame)
        assert_arrays_equal(a, b)
        num_bright += len(a.bright_doms)
        assert a.num_pulses > 0
    assert num_bright > 0


@requires_cpp
def test_cpp_masks_and_flat_arrays(detector):
    from icecube import _egenerator

    rng = np.random.default_rng(5)
    frame, (string, om, time, charge) = random_frame(rng, detector)
    # a mask keeping only the pulses after 10 us
    frame["Masked"] = dataclasses.I3RecoPulseSeriesMapMask(
        frame, "Pulses", lambda key, idx, pulse: pulse.time > 10000.0
    )
    settings = ExclusionSettings(exclude_bright_doms=False)
    cpp = FrameConverter(detector, "Masked", [], settings, use_cpp=True).convert(frame)
    ref = FrameConverter(detector, "Masked", [], settings, use_cpp=False).convert(frame)
    assert_arrays_equal(cpp, ref)
    inice = om <= 60
    assert cpp.num_pulses == int(np.sum(inice & (time > 10000.0)))
    # C++ flattening and building of pulse maps
    flat = _egenerator.flatten_pulse_map(frame["Pulses"])
    s, o, t, q = flatten_pulse_map(frame["Pulses"])
    for key, value in zip(("string", "om", "time_ns", "charge_pe"), (s, o, t, q), strict=True):
        np.testing.assert_array_equal(flat[key], value)
    rebuilt = flatten_pulse_map(_egenerator.pulse_map_from_arrays(string, om, time, charge))
    for a, b in zip(rebuilt, (s, o, t, q), strict=True):
        np.testing.assert_array_equal(a, b)


def test_conversion_errors(detector):
    rng = np.random.default_rng(2)
    frame, _ = random_frame(rng, detector)
    frame["WrongType"] = dataclasses.I3Particle()
    for use_cpp in [False] + ([True] if cpp_converter_available() else []):
        with pytest.raises(FrameConversionError, match="no pulse key 'Missing'"):
            FrameConverter(detector, "Missing", [], use_cpp=use_cpp).convert(frame)
        with pytest.raises(FrameConversionError, match="'WrongType' holds a .*I3Particle"):
            FrameConverter(detector, "Pulses", ["WrongType"], use_cpp=use_cpp).convert(frame)
        small = DetectorTable(
            **{k: getattr(detector, k)[:600] for k in ("string", "om", "x", "y", "z")},
            efficiency=detector.efficiency[:600],
            noise_rate_hz=detector.noise_rate_hz[:600],
            dead=detector.dead[:600],
            source="first 10 strings",
        )
        frame_far = icetray.I3Frame(icetray.I3Frame.Physics)
        frame_far["Pulses"] = python_pulse_map(
            np.array([1, 80]), np.array([1, 5]), np.array([1.0, 2.0]), np.array([1.0, 1.0])
        )
        with pytest.raises(FrameConversionError, match=r"not in the detector table.*\(80, 5\)"):
            FrameConverter(small, "Pulses", [], use_cpp=use_cpp).convert(frame_far)


def test_event_batch_from_frame(detector):
    rng = np.random.default_rng(4)
    frame, _ = random_frame(rng, detector)
    header = dataclasses.I3EventHeader()
    header.run_id, header.event_id, header.sub_event_id = 7, 42, 1
    frame["I3EventHeader"] = header
    frame["ReadoutWindow"] = dataclasses.I3TimeWindow(0.0, 20000.0)
    converter = FrameConverter(detector, "Pulses", EXCLUSION_KEYS)
    batch = converter.event_batch(frame, np.arange(7.0), time_window_key="ReadoutWindow")
    arrays = converter.convert(frame)
    np.testing.assert_array_equal(batch.event_id, [[7, 42, 1, 0]])
    np.testing.assert_array_equal(batch.time_window_ns, [[0.0, 20000.0]])
    np.testing.assert_array_equal(batch.pulse_time_ns, arrays.pulse_time_ns)
    no_window = converter.event_batch(frame, np.arange(7.0), buffer_ns=50.0)
    assert no_window.time_window_ns[0, 0] == arrays.pulse_time_ns.min() - 50.0
    # the reference path gives the same EventBatch as the numpy reference on flat input
    s, o, t, q = flatten_pulse_map(frame["Pulses"])
    direct = apply_exclusions(s, o, t, q, detector, [], [], ExclusionSettings())
    assert direct.num_pulses >= arrays.num_pulses


# ---------------------------------------------------------------------- geometry
def test_geometry_round_trip(detector):
    geometry = geometry_from_detector(detector)
    assert len(geometry.omgeo) == detector.num_doms
    assert detector_from_geometry(geometry, reference=detector) is detector
    rebuilt = detector_from_geometry(geometry, calibration=calibration_from_detector(detector))
    for name in ("string", "om", "x", "y", "z"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(detector, name))
    np.testing.assert_allclose(rebuilt.efficiency, detector.efficiency, rtol=1e-12)
    np.testing.assert_allclose(rebuilt.noise_rate_hz, detector.noise_rate_hz, rtol=1e-12)
    # IceTop stations in the geometry are ignored
    top = dataclasses.I3OMGeo()
    top.position = dataclasses.I3Position(0.0, 0.0, 1950.0)
    geometry.omgeo[icetray.OMKey(1, 61)] = top
    assert detector_from_geometry(geometry, reference=detector) is detector


def test_geometry_mismatch_lists_omkeys(detector):
    geometry = geometry_from_detector(detector)
    moved = geometry.omgeo[icetray.OMKey(36, 30)]
    moved.position = dataclasses.I3Position(
        moved.position.x + 2.0, moved.position.y, moved.position.z
    )
    geometry.omgeo[icetray.OMKey(36, 30)] = moved
    with pytest.raises(
        GeometryMismatchError, match=r"displaced by more than 0.5 m: OMKey\(36, 30\)"
    ):
        detector_from_geometry(geometry, reference=detector, tolerance_m=0.5)
    assert detector_from_geometry(geometry, reference=detector, tolerance_m=2.5) is detector
    del geometry.omgeo[icetray.OMKey(5, 7)]
    with pytest.raises(GeometryMismatchError, match=r"missing in the geometry: OMKey\(5, 7\)"):
        detector_from_geometry(geometry, reference=detector)


@requires_cpp
def test_cpp_hand_made_boundaries_and_overlaps(detector):
    """Pulses exactly at start/stop, windows of two keys overlapping and touching."""
    frame = icetray.I3Frame(icetray.I3Frame.Physics)
    string = np.array([1, 1, 1, 1, 1, 1, 2, 1])
    om = np.array([1, 1, 1, 1, 1, 1, 2, 64])
    time = np.array([9.999, 10.0, 20.0, 25.0, 30.0, 30.001, 15.0, 12.0])
    frame["Pulses"] = python_pulse_map(string, om, time, np.ones(len(time)))
    for key, (a, b) in (("SaturationWindows", (10.0, 20.0)), ("CalibrationErrata", (20.0, 30.0))):
        windows = dataclasses.I3TimeWindowSeriesMap()
        series = dataclasses.I3TimeWindowSeries()
        series.append(dataclasses.I3TimeWindow(a, b))
        windows[icetray.OMKey(1, 1)] = series
        windows[icetray.OMKey(99, 1)] = series  # not in the detector: ignored
        frame[key] = windows
    settings = ExclusionSettings(exclude_bright_doms=False)
    cpp = FrameConverter(detector, "Pulses", EXCLUSION_KEYS, settings, use_cpp=True)
    ref = FrameConverter(detector, "Pulses", EXCLUSION_KEYS, settings, use_cpp=False)
    a, b = cpp.convert(frame), ref.convert(frame)
    assert_arrays_equal(a, b)
    np.testing.assert_array_equal(a.pulse_time_ns, [9.999, 30.0, 30.001, 15.0])
    np.testing.assert_array_equal(a.window_start_ns, [10.0])  # [10, 20) + [20, 30) merged
    np.testing.assert_array_equal(a.window_stop_ns, [30.0])
    whole = ExclusionSettings(partial_exclusion=False, exclude_bright_doms=False)
    a = FrameConverter(detector, "Pulses", EXCLUSION_KEYS, whole, use_cpp=True).convert(frame)
    assert_arrays_equal(a, FrameConverter(detector, "Pulses", EXCLUSION_KEYS, whole).convert(frame))
    np.testing.assert_array_equal(a.pulse_time_ns, [15.0])
    assert not a.dom_valid[0] and a.dom_valid.sum() == detector.num_doms - 1


# ---------------------------------------------------------------------- simulation
def test_simulate_i3_round_trip(small_detector, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from egenerator.sim.sampler import concatenate_chunks, simulate_events
    from icecube import dataio

    csv = tmp_path / "detector.csv"
    small_detector.to_csv(csv)
    output = tmp_path / "sim.i3.zst"
    script = Path(__file__).resolve().parents[1] / "scripts" / "simulate_i3.py"
    command = [sys.executable, str(script), "--output", str(output), "--events", "4"]
    command += ["--seed", "9", "--geometry", str(csv), "--energy-range", "1e3", "1e4"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    detector = DetectorTable.from_csv(csv)
    sim = concatenate_chunks(list(simulate_events(4, 9, detector, energy_range_gev=(1e3, 1e4))))
    converter = FrameConverter(
        detector,
        "SplitInIceDSTPulses",
        ["BadDomsList"],
        ExclusionSettings(exclude_bright_doms=False),
    )
    physics = 0
    for frame in dataio.I3File(str(output)):
        if frame.Stop == icetray.I3Frame.Geometry:
            assert detector_from_geometry(frame["I3Geometry"], reference=detector) is detector
        if frame.Stop == icetray.I3Frame.Calibration:
            rebuilt = detector_from_geometry(
                frame["I3Geometry"], calibration=frame["I3Calibration"]
            )
            np.testing.assert_allclose(rebuilt.noise_rate_hz, detector.noise_rate_hz)
        if frame.Stop != icetray.I3Frame.Physics:
            continue
        k = physics
        physics += 1
        header = frame["I3EventHeader"]
        assert (header.run_id, header.event_id) == (sim.run_id, sim.event_number[k])
        cascade = frame["MCCascade"]
        np.testing.assert_allclose(
            [
                cascade.pos.x,
                cascade.pos.y,
                cascade.pos.z,
                cascade.dir.zenith,
                cascade.dir.azimuth,
                cascade.energy,
                cascade.time,
            ],
            sim.parameters[k],
            rtol=1e-12,
            atol=1e-12,
        )
        assert frame["LabelsDeepLearning"]["cascade_energy"] == sim.parameters[k, 5]
        arrays = converter.convert(frame)
        sel = sim.pulse_event == k
        np.testing.assert_array_equal(arrays.pulse_dom, sim.pulse_dom[sel])
        np.testing.assert_array_equal(arrays.pulse_time_ns, sim.pulse_time_ns[sel])
        np.testing.assert_array_equal(
            arrays.pulse_charge_pe, sim.pulse_charge_pe[sel].astype(np.float32)
        )
        window = frame["InIceDSTPulsesTimeRange"]
        np.testing.assert_array_equal([window.start, window.stop], sim.readout_window_ns[k])
    assert physics == 4


def run_simulation_tray(detector, parameters, seed, extra_frames=0):
    from egenerator.icetray import EventGeneratorSimulation
    from icecube.icetray import I3Tray

    frames = []
    state = {"n": 0}

    def source(frame):
        n = state["n"]
        state["n"] += 1
        header = dataclasses.I3EventHeader()
        header.run_id, header.event_id = 1, n
        frame["I3EventHeader"] = header
        if n < len(parameters):
            x, y, z, zenith, azimuth, energy, t0 = parameters[n]
            particle = dataclasses.I3Particle()
            particle.pos = dataclasses.I3Position(x, y, z)
            particle.dir = dataclasses.I3Direction(zenith, azimuth)
            particle.energy, particle.time = energy, t0
            frame["MCCascade"] = particle

    tray = I3Tray()
    tray.AddModule("BottomlessSource", "source", Stream=icetray.I3Frame.DAQ)
    tray.Add(source, "hypotheses", Streams=[icetray.I3Frame.DAQ])
    tray.AddModule(
        EventGeneratorSimulation,
        "simulation",
        Detector=detector,
        Seed=seed,
        NoiselessOutputKey="MCPulsesWithoutNoise",
    )
    tray.Add(lambda frame: frames.append(frame), "collect", Streams=[icetray.I3Frame.DAQ])
    tray.Execute(len(parameters) + extra_frames)
    return frames


def test_simulation_module_charge_and_determinism(small_detector):
    from egenerator.sim.light import expected_photoelectrons
    from egenerator.sim.physics import DEFAULT_PHYSICS
    from scipy import stats

    num = 24
    parameters = np.tile([10.0, -20.0, 30.0, 1.2, 2.5, 1.0e4, 10000.0], (num, 1))
    frames = run_simulation_tray(small_detector, parameters, seed=3, extra_frames=1)
    assert len(frames) == num + 1
    assert "InIceDSTPulses" not in frames[-1]  # no hypothesis: frame passes unchanged
    total = np.array([flatten_pulse_map(f["InIceDSTPulses"])[3].sum() for f in frames[:num]])
    light = np.array([flatten_pulse_map(f["MCPulsesWithoutNoise"])[3].sum() for f in frames[:num]])
    cfg = DEFAULT_PHYSICS
    a = (cfg.spe_charge_min - cfg.spe_charge_mean) / cfg.spe_charge_sigma
    mean_charge = stats.truncnorm.mean(a, np.inf, cfg.spe_charge_mean, cfg.spe_charge_sigma)
    window_ns = cfg.readout_window_ns[1] - cfg.readout_window_ns[0]
    mu_light = expected_photoelectrons(parameters[:1], small_detector)[0].sum()
    mu_noise = (small_detector.noise_rate_hz * 1e-9 * window_ns).sum()
    for observed, mu in ((light, mu_light), (total, mu_light + mu_noise)):
        error = observed.std(ddof=1) / np.sqrt(num)
        assert abs(observed.mean() - mu * mean_charge) < 4.0 * error, (observed.mean(), mu)
    # every event differs, and the same seed reproduces the same pulses
    assert len(np.unique(total)) == num
    # a DetectorTable of the other package copy (icecube.egenerator) is accepted too
    from icecube.egenerator.detector import DetectorTable as IceTrayCopyTable

    other = IceTrayCopyTable(
        **{f: getattr(small_detector, f) for f in ("string", "om", "x", "y", "z")},
        efficiency=small_detector.efficiency,
        noise_rate_hz=small_detector.noise_rate_hz,
        dead=small_detector.dead,
    )
    assert not isinstance(other, DetectorTable)
    again = run_simulation_tray(other, parameters[:3], seed=3)
    for f, g in zip(frames[:3], again, strict=True):
        for a_, b_ in zip(
            flatten_pulse_map(f["InIceDSTPulses"]),
            flatten_pulse_map(g["InIceDSTPulses"]),
            strict=True,
        ):
            np.testing.assert_array_equal(a_, b_)
