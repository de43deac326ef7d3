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
