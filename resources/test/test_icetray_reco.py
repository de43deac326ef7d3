"""The reconstruction I3Module, the ApplyEventGenerator segment and apply_model.py.

Skipped where ``icecube.icetray`` does not import. Run inside the IceTray build environment:
``/work/icetray/build/env-shell.sh /work/main/.venv/bin/python -m pytest -q
resources/test/test_icetray_reco.py``.

The same simulated events are written as an I3 file (G, C, then Q + P frames, as
``simulate_i3.py`` writes them) and as an hdfwriter file (as ``egenerator simulate`` writes it);
pulse charges are rounded to float32 in both (I3RecoPulse stores float32), so the two files hold
identical events. The tray on the I3 file must then give the fits of the standalone
``reconstruct_files`` on the hdf5 file. Both use the oracle on a 420-DOM detector and one shared,
warmed-up engine (tracing the oracle costs ~30 s of CPU; the engine is what both paths share by
design, the test checks everything around it: frames -> arrays, seeds, batching, outputs).
"""

from __future__ import annotations

import dataclasses as dc
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("icecube.icetray")
from egenerator.icetray.hdf5_compat import import_hdf5_modules  # noqa: E402

import_hdf5_modules()  # h5py / PyTables before IceTray's HDF5 (see hdf5_compat)

from icecube import dataclasses, dataio, icetray  # noqa: E402
from icecube.icetray import I3Tray  # noqa: E402

pytestmark = [pytest.mark.icetray, pytest.mark.slow]

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
NUM_EVENTS = 4
SEED_KEYS = ["MCCascade", "LabelsDeepLearning"]
# Settings shared by every tray here (one engine, traced once). The scipy interface fits each
# event on its own, so results do not depend on which events share a batch (the batched
# minimiser's do, at the rounding level); without TensorFlow's graph optimiser the oracle
# traces ~30 % faster.
RECO_SETTINGS = {"reco_optimizer_interface": "scipy", "skip_graph_optimization": True}
ENGINE_KWARGS = {"reconstruction_settings": RECO_SETTINGS}
SKIP_COLUMNS = ("runtime_",)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_eg_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory, small_detector):
    """(I3 path, hdf5 path, detector CSV) of the same NUM_EVENTS events."""
    from egenerator.io.writer import write_simulation
    from egenerator.sim.sampler import concatenate_chunks, simulate_events

    simulate_i3 = load_script("simulate_i3")
    tmp = tmp_path_factory.mktemp("icetray_reco")
    detector = small_detector
    sim = concatenate_chunks(
        list(simulate_events(NUM_EVENTS, 21, detector, energy_range_gev=(2e3, 2e4)))
    )
    sim = dc.replace(sim, pulse_charge_pe=sim.pulse_charge_pe.astype(np.float32).astype(np.float64))
    h5 = tmp / "events.hdf5"
    write_simulation(h5, [sim], detector)
    i3 = tmp / "events.i3"
    simulate_i3.write_frames(i3, [sim], detector)  # the small detector has no dead DOMs
    csv = tmp / "detector.csv"
    detector.to_csv(csv)
    return i3, h5, csv


def module_kwargs(detector, **extra) -> dict:
    kwargs = {
        "model_names": "oracle",
        "detector": detector,
        "seed_keys": SEED_KEYS,
        "time_window_key": "InIceDSTPulsesTimeRange",
        **ENGINE_KWARGS,
    }
    kwargs.update(extra)
    return kwargs


def run_tray(source, segment_kwargs: dict, with_segment: bool = True) -> list:
    """Frames (all stops) after the segment; ``source``: an I3 path or a list of frames."""
    from egenerator.icetray.segments import ApplyEventGenerator

    collected = []
    tray = I3Tray()
    if isinstance(source, str | Path):
        tray.Add("I3Reader", FilenameList=[str(source)])
    else:
        tray.AddModule(FrameSource, "source", Frames=list(source))
    if with_segment:
        tray.AddSegment(ApplyEventGenerator, "EG", **segment_kwargs)
    tray.AddModule(FrameCollector, "collect", Collected=collected)
    tray.Execute()
    return collected


class FrameSource(icetray.I3Module):
    """Pushes a list of frames (copies), then ends the tray."""

    def __init__(self, context):
        super().__init__(context)
        self.AddParameter("Frames", "frames to push", [])
        self.AddOutBox("OutBox")

    def Configure(self):
        self.frames = list(self.GetParameter("Frames"))

    def Process(self):
        if not self.frames:
            self.RequestSuspension()
            return
        self.PushFrame(icetray.I3Frame(self.frames.pop(0)))


class FrameCollector(icetray.I3Module):
    """Collects every frame (all stops)."""

    def __init__(self, context):
        super().__init__(context)
        self.AddParameter("Collected", "list to append to", None)

    def Configure(self):
        self.collected = self.GetParameter("Collected")

    def Process(self):
        frame = self.PopFrame()
        self.collected.append(frame)
        self.PushFrame(frame)


def physics(frames) -> list:
    return [f for f in frames if f.Stop == icetray.I3Frame.Physics]


def event_key(frame) -> tuple:
    """(stop, (run, event, sub-event)) of a frame's own I3EventHeader (not a mixed-in one)."""
    own = "I3EventHeader" in frame and frame.get_stop("I3EventHeader") == frame.Stop
    header = frame["I3EventHeader"] if own else None
    ids = (header.run_id, header.event_id, header.sub_event_id) if header else ()
    return (str(frame.Stop), ids)


@pytest.fixture(scope="module")
def tray_frames(files, small_detector):
    """The I3 file through the segment (covariances, batches of 3 over 4 events)."""
    i3, _, _ = files
    kwargs = module_kwargs(small_detector, add_covariances=True, batch_size=3)
    return run_tray(i3, kwargs)


# ---------------------------------------------------------------------- tray == standalone
def test_tray_matches_standalone(files, tray_frames, small_detector, tmp_path):
    import pandas as pd
    from egenerator.icetray.reco_engine import load_engine
    from egenerator.reco.driver import TRAY_EQUIVALENT_DATA_SETTINGS, reconstruct_files

    _, h5, _ = files
    engine = load_engine(
        "oracle",
        detector=small_detector,
        settings_overrides=RECO_SETTINGS,
    )  # the tray's engine (shared in this process): already warm
    assert {"fit", "covariance"} <= engine._warm and engine.warm_up_s > 0
    setup = dc.replace(
        engine.setup,
        data_handler_settings=TRAY_EQUIVALENT_DATA_SETTINGS,
    )
    out = tmp_path / "standalone.hdf5"
    reconstruct_files(
        setup,
        [h5],
        out,
        settings=engine.settings,
        seed_keys=SEED_KEYS,
        num_first_guess=0,
        batch_size=3,
        covariance=True,
        copy_keys=(),
        reconstructor=engine.reconstructor,
    )
    table = pd.read_hdf(out, "EventGenerator")
    particles = pd.read_hdf(out, "EventGenerator_I3Particle")
    cov = pd.read_hdf(out, "EventGenerator_cov_matrix_cov")
    frames = physics(tray_frames)
    assert len(frames) == len(table) == NUM_EVENTS
    statuses = []
    for k, frame in enumerate(frames):
        header = frame["I3EventHeader"]
        assert (header.run_id, header.event_id) == (table["Run"][k], table["Event"][k])
        result = frame["EventGenerator"]
        columns = [c for c in table.columns if c not in ("Run", "Event", "SubEvent")]
        columns = [c for c in columns if c not in ("SubEventStream", "exists")]
        assert sorted(result.keys()) == sorted(columns + ["runtime_conversion"])
        for name in columns:
            if name.startswith(SKIP_COLUMNS):
                continue
            np.testing.assert_allclose(result[name], table[name][k], rtol=1e-9, err_msg=name)
        statuses.append(result["fit_status"])
        particle = frame["EventGenerator_I3Particle"]
        row = particles.iloc[k]
        got = [
            particle.pos.x,
            particle.pos.y,
            particle.pos.z,
            particle.time,
            particle.dir.zenith,
            particle.dir.azimuth,
            particle.energy,
            particle.speed,
        ]
        want = [row[c] for c in ("x", "y", "z", "time", "zenith", "azimuth", "energy", "speed")]
        np.testing.assert_allclose(got, want, rtol=1e-9)
        assert int(particle.fit_status) == row["fit_status"]
        assert (
            int(particle.shape) == row["shape"] and int(particle.location_type) == row["location"]
        )
        cov_map = frame["EventGenerator_cov_matrix_cov"]
        cov_columns = [c for c in cov.columns if c not in table.columns[:5]]
        assert sorted(cov_map.keys()) == sorted(cov_columns)
        assert "log_cascade_energy_log_cascade_energy" in cov_map
        for name in cov_columns:
            np.testing.assert_allclose(cov_map[name], cov[name][k], rtol=1e-7, err_msg=name)
    assert statuses.count(0.0) >= NUM_EVENTS // 2  # most fits converge


def test_frame_order_and_passthrough(files, tray_frames):
    i3, _, _ = files
    reference = run_tray(i3, {}, with_segment=False)
    assert [event_key(f) for f in tray_frames] == [event_key(f) for f in reference]
    added = {"EventGenerator", "EventGenerator_I3Particle", "EventGenerator_cov_matrix_cov"}
    for got, want in zip(tray_frames, reference, strict=True):
        extra = added if got.Stop == icetray.I3Frame.Physics else set()
        assert set(got.keys()) == set(want.keys()) | extra


# ---------------------------------------------------------------------- failures
def edited_frames(i3_path, detector) -> tuple[list, list[str]]:
    """G, C, then Q/P pairs: fine, no pulses, no seeds, an unknown DOM, every DOM excluded, a
    stale pulse mask; an extra P frame of the first Q and an extra stop. Returns (frames, expected outcome per P)."""
    frames = [icetray.I3Frame(f) for f in dataio.I3File(str(i3_path))]
    g, c = frames[0], frames[1]
    pairs = [(frames[i], frames[i + 1]) for i in range(2, len(frames), 2)]

    def only_own(frame):
        clean = icetray.I3Frame(frame.Stop)
        for key in frame.keys():
            if frame.get_stop(key) == frame.Stop:
                clean[key] = frame[key]
        return clean

    q0, p0 = (only_own(f) for f in pairs[0])
    q1, p1 = (only_own(f) for f in pairs[1])
    del p1["SplitInIceDSTPulses"]  # no pulses
    q2, p2 = (only_own(f) for f in pairs[2])
    del q2["MCCascade"], q2["LabelsDeepLearning"]  # no seeds
    q3, p3 = (only_own(f) for f in pairs[3])
    unknown = dataclasses.I3RecoPulseSeriesMap(q3["InIceDSTPulses"])
    pulse = dataclasses.I3RecoPulse()
    pulse.time, pulse.charge = 10000.0, 1.0
    unknown[icetray.OMKey(99, 1)] = dataclasses.I3RecoPulseSeries([pulse])
    del q3["InIceDSTPulses"], p3["SplitInIceDSTPulses"]
    q3["InIceDSTPulses"] = unknown  # a DOM the detector does not have
    p3["SplitInIceDSTPulses"] = dataclasses.I3RecoPulseSeriesMapMask(q3, "InIceDSTPulses")
    q5, p5 = (only_own(f) for f in pairs[1])
    del q5["InIceDSTPulses"]
    q5["InIceDSTPulses"] = unknown  # the mask of p5 no longer fits: IceTray cannot apply it
    q4, p4 = (only_own(f) for f in pairs[0])
    everything = dataclasses.I3VectorOMKey()
    for s, o in zip(detector.string, detector.om, strict=True):
        everything.append(icetray.OMKey(int(s), int(o)))
    del q4["BadDomsList"]
    q4["BadDomsList"] = everything
    p0b = only_own(pairs[0][1])
    header = dataclasses.I3EventHeader(p0b["I3EventHeader"])
    header.sub_event_id = 1
    del p0b["I3EventHeader"]
    p0b["I3EventHeader"] = header
    other = icetray.I3Frame(icetray.I3Frame.Stream("X"))
    other["Note"] = dataclasses.I3String("not a physics frame")
    order = [g, c, q0, p0, p0b, other, q1, p1, q2, p2, q3, p3, q4, p4, q5, p5]
    expected = ["ok", "ok", "no_pulses", "no_seed", "invalid", "excluded", "invalid"]
    return order, expected


def test_failures_keep_the_tray_going(files, small_detector):
    from egenerator.icetray.frame_outputs import INVALID_INPUT
    from egenerator.reco.status import FitStatus

    i3, _, _ = files
    frames, expected = edited_frames(i3, small_detector)
    status = {
        "no_pulses": (int(FitStatus.NO_PULSES), "InsufficientHits"),
        "no_seed": (int(FitStatus.MISSING_SEED), "MissingSeed"),
        "invalid": (INVALID_INPUT, "GeneralFailure"),
        "excluded": (int(FitStatus.ALL_DOMS_EXCLUDED), "InsufficientHits"),
    }
    results = {}
    for batch_size in (1, 4):
        kwargs = module_kwargs(small_detector, batch_size=batch_size, add_covariances=True)
        out = run_tray(frames, kwargs)
        assert [event_key(f) for f in out] == [event_key(f) for f in frames]
        assert "Note" in out[5] and "EventGenerator" not in out[5]
        p_frames = physics(out)
        assert len(p_frames) == len(expected)
        for frame, outcome in zip(p_frames, expected, strict=True):
            result = frame["EventGenerator"]
            particle = frame["EventGenerator_I3Particle"]
            if outcome == "ok":
                assert np.isfinite(result["cascade_x"])
                assert result["fit_status"] in (0.0, float(FitStatus.FAILED_MINIMIZATION))
                continue
            code, i3_name = status[outcome]
            assert result["fit_status"] == code, outcome
            assert result["minimization_success"] == 0.0
            assert np.isnan(result["cascade_energy"]) and np.isnan(particle.energy)
            assert particle.fit_status == getattr(dataclasses.I3Particle.FitStatus, i3_name)
            assert np.isnan(frame["EventGenerator_cov_matrix_cov"]["cascade_x_cascade_x"])
        results[batch_size] = [dict(f["EventGenerator"]) for f in p_frames]
    for one, four in zip(results[1], results[4], strict=True):
        for key in one:
            if not key.startswith(SKIP_COLUMNS):
                np.testing.assert_array_equal(one[key], four[key], err_msg=key)


def test_geometry_mismatch_stops_the_tray(files, small_detector):
    from egenerator.icetray.geometry import geometry_from_detector

    i3, _, _ = files
    frames = [icetray.I3Frame(f) for f in dataio.I3File(str(i3))][:4]
    x = small_detector.x.copy()
    x[7] += 3.0
    moved = dc.replace(small_detector, x=x)
    geometry = icetray.I3Frame(icetray.I3Frame.Geometry)
    geometry["I3Geometry"] = geometry_from_detector(moved)
    frames[0] = geometry
    key = f"OMKey({small_detector.string[7]}, {small_detector.om[7]})"
    with pytest.raises(Exception, match=key.replace("(", r"\(").replace(")", r"\)")):
        run_tray(frames, module_kwargs(small_detector))


def test_configuration_errors(small_detector, tmp_path):
    from egenerator.icetray.segments import ApplyEventGenerator

    def configure(**kwargs):
        tray = I3Tray()
        tray.AddModule("BottomlessSource", "source")
        tray.AddSegment(ApplyEventGenerator, "EG", **kwargs)
        tray.Execute(1)

    base = {"detector": small_detector, "seed_keys": ["MCCascade"]}
    with pytest.raises(Exception, match="model_names is not set"):
        configure(**base)
    with pytest.raises(Exception, match="exactly one model"):
        configure(model_names=["oracle", "oracle"], **base)
    with pytest.raises(Exception, match="does not exist"):
        configure(model_names=str(tmp_path / "nowhere"), **base)
    with pytest.raises(Exception, match="no seeds"):
        configure(model_names="oracle", detector=small_detector, num_first_guess=0)
    with pytest.raises(Exception, match="unknown keyword 'sed_keys'"):
        configure(model_names="oracle", detector=small_detector, sed_keys=["MCCascade"])
    with pytest.raises(Exception, match="set by the segment"):
        configure(model_names="oracle", exclusion_keys=["BadDomsList"], **base)


def test_segment_does_not_mutate_exclusions(files, small_detector):
    i3, _, _ = files
    exclusions = ["BadDomsList", "SaturationWindows"]
    frames = [icetray.I3Frame(f) for f in dataio.I3File(str(i3))][:4]
    out = run_tray(
        frames,
        {**module_kwargs(small_detector), "dom_and_tw_exclusions": exclusions, "clean_up": False},
    )
    assert exclusions == ["BadDomsList", "SaturationWindows"]
    frame = physics(out)[0]
    for suffix in ("_Pulses", "_ExcludedDOMs", "_BrightDOMs", "_TimeWindows"):
        assert "EG" + suffix in frame
    assert len(frame["EG_Pulses"]) == len(frame["SplitInIceDSTPulses"].apply(frame))


# ---------------------------------------------------------------------- apply_model.py
def test_apply_model_round_trip(files, tray_frames, tmp_path, capsys):
    i3, _, csv = files
    apply_model = load_script("apply_model")
    output = tmp_path / "reco.i3.zst"
    argv = [str(i3), "-o", str(output), "--oracle", "--geometry", str(csv)]
    argv += ["--interface", "scipy", "--skip-graph-optimization"]
    argv += ["--time-window-key", "InIceDSTPulsesTimeRange"]
    argv += ["--seed-key", "MCCascade", "--seed-key", "LabelsDeepLearning"]
    argv += ["--batch-size", "2", "--covariance"]
    assert apply_model.main(argv) == 0
    assert f"{NUM_EVENTS} physics frames" in capsys.readouterr().out
    stops = (icetray.I3Frame.Geometry, icetray.I3Frame.Calibration)
    stops += (icetray.I3Frame.DAQ, icetray.I3Frame.Physics)
    written = [f for f in dataio.I3File(str(output)) if f.Stop in stops]
    original = [f for f in dataio.I3File(str(i3))]
    assert [event_key(f) for f in written] == [event_key(f) for f in original]
    for frame, reference in zip(physics(written), physics(tray_frames), strict=True):
        got, want = frame["EventGenerator"], reference["EventGenerator"]
        for key in want.keys():
            if not key.startswith(SKIP_COLUMNS):  # other batches: equal up to rounding
                np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12, err_msg=key)
        assert frame["EventGenerator_I3Particle"].fit_status == (
            reference["EventGenerator_I3Particle"].fit_status
        )
        assert "EventGenerator_cov_matrix_cov" in frame
    assert apply_model.main([str(i3), "-o", str(output), "--model", str(tmp_path / "no")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------------- pieces
def test_frame_seeds_from_particle_and_map():
    from egenerator.icetray.frame_seeds import FrameSeedReader

    names = ("cascade_x", "cascade_y", "cascade_z", "cascade_zenith", "cascade_azimuth")
    names += ("cascade_energy", "cascade_time")
    truth = [1.0, -2.0, 3.0, 0.5, 4.0, 1234.0, 9876.0]
    frame = icetray.I3Frame(icetray.I3Frame.Physics)
    particle = dataclasses.I3Particle()
    particle.pos = dataclasses.I3Position(*truth[:3])
    particle.dir = dataclasses.I3Direction(truth[3], truth[4])
    particle.energy, particle.time = truth[5], truth[6]
    frame["Particle"] = particle
    labels = dataclasses.I3MapStringDouble()
    for name, value in zip(names, truth, strict=True):
        labels[name.replace("_time", "_t")] = value
    frame["Labels"] = labels
    partial = dataclasses.I3MapStringDouble({"cascade_x": 5.0})
    frame["Partial"] = partial
    frame["Wrong"] = dataclasses.I3String("x")
    reader = FrameSeedReader(
        ["Particle", "Labels", "Partial", "Missing", "Wrong"],
        names,
        missing_value=None,
        missing_value_dict={"cascade_energy": 7.0},
    )
    seeds, problems = reader.read(frame)
    np.testing.assert_allclose(seeds[0], truth, rtol=1e-12)
    np.testing.assert_array_equal(seeds[1], truth)
    assert np.all(np.isnan(seeds[2:]))
    assert "no value for parameter 'cascade_y'" in problems[0]
    assert "'Missing' not in the frame" in problems[1]
    assert "I3String" in problems[2]
    filled = FrameSeedReader(["Partial"], names, missing_value=0.0).read(frame)[0][0]
    np.testing.assert_array_equal(filled, [5.0, 0, 0, 0, 0, 0, 0])


def test_particle_objects_normalise_angles():
    from egenerator.icetray.frame_outputs import particle_objects
    from egenerator.reco.output import particle_columns
    from egenerator.reco.reconstructor import FitResult

    names = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
    params = np.array([[1.0, 2.0, 3.0, -0.3, 7.0, 10.0, 5.0], [0.0, 0.0, 0.0, 3.5, -1.0, 2.0, 1.0]])
    fit = FitResult(
        parameters=params,
        loss_reco=np.zeros(2),
        loss_seed=np.zeros(2),
        fit_status=np.array([0, 4], dtype=np.int32),
        num_iterations=np.zeros(2, dtype=np.int32),
        best_seed=np.zeros(2, dtype=np.int64),
        seed_parameters=params,
        all_parameters=params[:, None],
        all_losses=np.zeros((2, 1)),
        all_status=np.zeros((2, 1), dtype=np.int32),
        runtime_s=0.0,
    )
    particles = particle_objects(particle_columns(fit, names))
    for particle, (zen, az) in zip(particles, params[:, 3:5], strict=True):
        direction = np.array([np.sin(zen) * np.cos(az), np.sin(zen) * np.sin(az), np.cos(zen)])
        assert 0.0 <= particle.dir.zenith <= np.pi
        assert 0.0 <= particle.dir.azimuth < 2 * np.pi
        got = -np.array([particle.dir.x, particle.dir.y, particle.dir.z])  # I3Direction: travel
        np.testing.assert_allclose(got, direction, atol=1e-12)
    assert particles[0].fit_status == dataclasses.I3Particle.FitStatus.OK
    assert particles[1].fit_status == dataclasses.I3Particle.FitStatus.FailedToConverge


def test_resolve_model_paths(tmp_path):
    from egenerator.icetray.reco_engine import EngineConfigError, resolve_model

    (tmp_path / "models" / "cascade").mkdir(parents=True)
    assert resolve_model("oracle", None) == "oracle"
    assert resolve_model(["cascade"], str(tmp_path / "models")) == str(
        (tmp_path / "models" / "cascade").resolve()
    )
    assert resolve_model(str(tmp_path / "models" / "cascade"), "/elsewhere").endswith("cascade")
    with pytest.raises(EngineConfigError, match="does not exist"):
        resolve_model("cascade", None)


def test_condition_keeps_the_frame_order(files, small_detector):
    i3, _, _ = files
    frames = [icetray.I3Frame(f) for f in dataio.I3File(str(i3))]

    def skip_event_1(frame):
        return frame["I3EventHeader"].event_id != 1

    out = run_tray(frames, module_kwargs(small_detector, batch_size=3, If=skip_event_1))
    assert [event_key(f) for f in out] == [event_key(f) for f in frames]
    for frame in physics(out):
        skipped = frame["I3EventHeader"].event_id == 1
        assert ("EventGenerator" in frame) != skipped
