"""`egenerator simulate` and `egenerator inspect` through the CLI dispatcher."""

from __future__ import annotations

import argparse
import subprocess
import sys

import h5py
import numpy as np
import pytest
from egenerator.cli import main
from egenerator.commands.simulate import parse_fixed


def _dom_counts_brute_force(path, key="InIceDSTPulses"):
    with h5py.File(path, "r") as f:
        table = f[key][()]
    per_event: dict[int, set] = {}
    for row in table:
        per_event.setdefault(int(row["Event"]), set()).add((int(row["string"]), int(row["om"])))
    return {event: len(doms) for event, doms in per_event.items()}


def test_inspect_real_file(real_hdf5_path, capsys):
    assert main(["inspect", str(real_hdf5_path), "--events", "5"]) == 0
    out = capsys.readouterr().out
    assert "events: 2" in out
    for table, rows in (("InIceDSTPulses", 1437), ("BrightDOMs", 6), ("LabelsDeepLearning", 2)):
        line = next(x for x in out.splitlines() if x.strip().startswith(table + " "))
        assert f"{rows} rows" in line
    doms = _dom_counts_brute_force(real_hdf5_path)
    with h5py.File(real_hdf5_path, "r") as f:
        pulses = f["InIceDSTPulses"][()]
        labels = f["LabelsDeepLearning"][()]
    lines = [x.split() for x in out.splitlines() if x.strip().startswith("4000 ")]
    assert len(lines) == 2
    header = next(x.split() for x in out.splitlines() if x.strip().startswith("Run "))
    for line, label in zip(lines, labels, strict=True):
        event = int(line[1])
        row = dict(zip(header, line, strict=True))
        assert int(row["pulses"]) == int(np.sum(pulses["Event"] == event))
        assert int(row["DOMs"]) == doms[event]
        charge = pulses["charge"][pulses["Event"] == event].sum()
        assert float(row["charge_pe"]) == pytest.approx(charge, abs=0.006)
        assert float(row["cascade_energy"]) == pytest.approx(label["cascade_energy"], rel=1e-3)


def test_inspect_errors(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: file does not exist" in capsys.readouterr().err


def test_console_entry_runs_inspect(real_hdf5_path):
    result = subprocess.run(
        [sys.executable, "-m", "egenerator.cli", "inspect", str(real_hdf5_path), "--events", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "events: 2" in result.stdout
    assert "first 0" not in result.stdout


def test_parse_fixed():
    assert parse_fixed("x=1, y=-2.5,energy=1e4") == {"x": 1.0, "y": -2.5, "energy": 1e4}
    with pytest.raises(argparse.ArgumentTypeError, match="unknown parameter 'energie'"):
        parse_fixed("energie=3")
    with pytest.raises(argparse.ArgumentTypeError, match="given twice"):
        parse_fixed("x=1,x=2")
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        parse_fixed("x=abc")
    with pytest.raises(argparse.ArgumentTypeError, match="not NAME=VALUE"):
        parse_fixed("x")
    with pytest.raises(argparse.ArgumentTypeError, match="'z' is 'nan'"):
        parse_fixed("z=nan")


def test_simulate_argument_errors(tmp_path, capsys):
    out = str(tmp_path / "x.h5")
    with pytest.raises(SystemExit):
        main(["simulate", "-o", out, "--events", "3", "--seed", "1", "--fixed", "foo=1"])
    assert "unknown parameter 'foo'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "-o", out, "--events", "0", "--seed", "1"])
    assert "must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "-o", out, "--events", "3"])
    assert "--seed" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_geometry_csv(tmp_path_factory, small_detector):
    path = tmp_path_factory.mktemp("geometry") / "small.csv"
    small_detector.to_csv(path)
    return path


def _simulate(path, geometry, *extra):
    argv = ["simulate", "-o", str(path), "--events", "6", "--seed", "5", "--no-progress"]
    return main(argv + ["--geometry", str(geometry), *extra])


def test_simulate_writes_a_readable_deterministic_file(tmp_path, small_geometry_csv, capsys):
    from egenerator.io import HdfwriterFile, read_pulses
    from egenerator.sim.sampler import simulate_events

    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert _simulate(a, small_geometry_csv, "--chunk-size", "4") == 0
    out = capsys.readouterr().out
    assert "events: 6" in out and "charge per event" in out and "ms per event" in out
    assert _simulate(b, small_geometry_csv, "--chunk-size", "4") == 0
    assert a.read_bytes() == b.read_bytes()
    # the file holds exactly what the simulator produces for that seed and detector
    from egenerator.detector import DetectorTable

    detector = DetectorTable.from_csv(small_geometry_csv)
    chunks = list(simulate_events(6, 5, detector, chunk_size=6))
    pulses = read_pulses(a, "InIceDSTPulses")
    np.testing.assert_array_equal(pulses.charge_pe, chunks[0].pulse_charge_pe)
    np.testing.assert_array_equal(pulses.time_ns, chunks[0].pulse_time_ns)
    np.testing.assert_array_equal(pulses.pulse_event, chunks[0].pulse_event)
    dom = detector.index_of(pulses.string, pulses.om)
    np.testing.assert_array_equal(dom, chunks[0].pulse_dom)
    with HdfwriterFile(a) as f:
        labels = f.read_table("LabelsDeepLearning")
        np.testing.assert_array_equal(labels["cascade_energy"], chunks[0].parameters[:, 5])
        assert f.num_rows("BadDomsList") == 6 * int(np.sum(detector.dead))
    assert main(["inspect", str(a), "--events", "3"]) == 0
    assert "events: 6" in capsys.readouterr().out


def test_simulate_fixed_and_energy_range(tmp_path, small_geometry_csv):
    from egenerator.io import HdfwriterFile

    path = tmp_path / "fixed.h5"
    fixed = "x=10,y=-20,z=30,zenith=1.0,azimuth=2.0,time=10000"
    assert (
        _simulate(path, small_geometry_csv, "--fixed", fixed, "--energy-range", "2e3", "5e3") == 0
    )
    with HdfwriterFile(path) as f:
        labels = f.read_table("LabelsDeepLearning")
    for name, value in (("x", 10), ("y", -20), ("z", 30), ("zenith", 1), ("azimuth", 2)):
        np.testing.assert_array_equal(labels[f"cascade_{name}"], value)
    np.testing.assert_array_equal(labels["cascade_t"], 10000.0)
    assert np.all((labels["cascade_energy"] >= 2e3) & (labels["cascade_energy"] <= 5e3))
    assert np.unique(labels["cascade_energy"]).size == 6


def test_simulate_reports_bad_inputs(tmp_path, capsys):
    out = str(tmp_path / "x.h5")
    assert (
        main(["simulate", "-o", out, "--events", "2", "--seed", "1", "--geometry", "nope.csv"]) == 2
    )
    assert "nope.csv: geometry file does not exist" in capsys.readouterr().err
    argv = ["simulate", "-o", out, "--events", "2", "--seed", "1", "--energy-range", "5", "1"]
    assert main(argv) == 2
    assert "EMIN <= EMAX" in capsys.readouterr().err
