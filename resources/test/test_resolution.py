"""Resolution numbers, tables, plots and the `egenerator resolution` command.

References are direct numpy computations on the same synthetic events (arccos of the direction
dot product, np.median / np.quantile per energy bin).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from egenerator import CASCADE_PARAMETER_NAMES
from egenerator.cli import main
from egenerator.io.schema import i3particle_columns
from egenerator.reco.output import RecoOutputWriter
from egenerator.reco.reconstructor import FitResult
from egenerator.reco.resolution import (
    angular_error_deg,
    format_summary,
    load_resolution_inputs,
    resolution_summary,
    wrap_angle,
)

KINDS = ("x", "y", "z", "zenith", "azimuth", "energy", "time")


def synthetic(num: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = {
        "x": rng.uniform(-300, 300, num),
        "y": rng.uniform(-300, 300, num),
        "z": rng.uniform(-300, 300, num),
        "zenith": np.arccos(rng.uniform(-1, 1, num)),
        "azimuth": rng.uniform(0, 2 * np.pi, num),
        "energy": 10 ** rng.uniform(2, 6, num),
        "time": rng.uniform(9000, 10000, num),
    }
    reco = {k: v + rng.normal(0, 5, num) for k, v in truth.items() if k in ("x", "y", "z", "time")}
    reco["zenith"] = np.clip(truth["zenith"] + rng.normal(0, 0.1, num), 0, np.pi)
    reco["azimuth"] = np.mod(truth["azimuth"] + rng.normal(0, 0.1, num), 2 * np.pi)
    reco["energy"] = truth["energy"] * np.exp(rng.normal(0, 0.2, num))
    return reco, truth


def test_angular_error_matches_arccos():
    reco, truth = synthetic(200, 1)
    a = np.stack(
        [
            np.sin(reco["zenith"]) * np.cos(reco["azimuth"]),
            np.sin(reco["zenith"]) * np.sin(reco["azimuth"]),
            np.cos(reco["zenith"]),
        ],
        1,
    )
    b = np.stack(
        [
            np.sin(truth["zenith"]) * np.cos(truth["azimuth"]),
            np.sin(truth["zenith"]) * np.sin(truth["azimuth"]),
            np.cos(truth["zenith"]),
        ],
        1,
    )
    ref = np.degrees(np.arccos(np.clip(np.sum(a * b, 1), -1, 1)))
    got = angular_error_deg(reco["zenith"], reco["azimuth"], truth["zenith"], truth["azimuth"])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    np.testing.assert_allclose(
        wrap_angle(np.array([3 * np.pi / 2, -3 * np.pi / 2, 0.1])), [-np.pi / 2, np.pi / 2, 0.1]
    )


def test_summary_matches_numpy():
    reco, truth = synthetic(500, 2)
    success = np.ones(500, bool)
    success[:10] = False
    sigma = {"x": np.full(500, 5.0), "energy": np.full(500, 0.2)}
    s = resolution_summary(
        reco, truth, success=success, sigma=sigma, energy_bins_gev=[1e2, 1e4, 1e6]
    )
    use = success
    ang = angular_error_deg(reco["zenith"], reco["azimuth"], truth["zenith"], truth["azimuth"])[use]
    vtx = np.sqrt(sum((reco[k] - truth[k]) ** 2 for k in ("x", "y", "z")))[use]
    lge = np.log10(reco["energy"] / truth["energy"])[use]
    assert s["num_used"] == 490
    np.testing.assert_allclose(s["angular_error_deg"]["median"], np.median(ang))
    np.testing.assert_allclose(s["angular_error_deg"]["q68"], np.quantile(ang, 0.68))
    np.testing.assert_allclose(s["vertex_error_m"]["median"], np.median(vtx))
    q16, q84 = np.quantile(lge, [0.16, 0.84])
    np.testing.assert_allclose(s["log10_energy_ratio"]["width68"], (q84 - q16) / 2)
    low = truth["energy"][use] < 1e4
    np.testing.assert_allclose(s["bins"][0]["angular_error_deg"]["median"], np.median(ang[low]))
    assert s["bins"][0]["n"] + s["bins"][1]["n"] == 490
    # pulls of N(0, sigma) errors: width ~ 1
    assert abs(s["pulls"]["x"]["std"] - 1) < 0.1 and abs(s["pulls"]["energy"]["std"] - 1) < 0.1
    text = format_summary(s, "title")
    assert "title" in text and "pulls" in text


def _write_output(path, reco, truth, status):
    n = len(status)
    names = CASCADE_PARAMETER_NAMES
    params = np.stack([reco[k] for k in KINDS], 1)
    fit = FitResult(
        parameters=params,
        loss_reco=np.zeros(n),
        loss_seed=np.ones(n),
        fit_status=status,
        num_iterations=np.full(n, 5),
        best_seed=np.zeros(n, np.int64),
        seed_parameters=params,
        all_parameters=params[:, None],
        all_losses=np.zeros((n, 1)),
        all_status=status[:, None],
        runtime_s=1.0,
    )
    ids = np.column_stack([np.full(n, 3), np.arange(n), np.zeros(n), np.zeros(n)]).astype(np.int64)
    with RecoOutputWriter(path, "EventGenerator", names) as out:
        out.append(ids, fit, {"reco": 1.0})
        truth_cols = i3particle_columns(
            *(truth[k] for k in ("x", "y", "z", "time", "zenith", "azimuth", "energy"))
        )
        out.copy_table("MCCascade", ids[::-1], {k: v[::-1] for k, v in truth_cols.items()})
    return ids


def test_load_and_command(tmp_path, capsys):
    reco, truth = synthetic(60, 3)
    status = np.zeros(60, np.int32)
    status[5] = 4
    path = tmp_path / "out.hdf5"
    _write_output(path, reco, truth, status)
    data = load_resolution_inputs(path)
    assert len(data["event_ids"]) == 60 and not data["success"][5]
    np.testing.assert_allclose(data["truth"]["energy"], truth["energy"])  # matched by event id
    rc = main(
        [
            "resolution",
            str(path),
            "--plots",
            str(tmp_path / "plots"),
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "events: 60  used: 59" in printed
    for name in ("angular_error_vs_energy.png", "energy_ratio.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000
    summary = json.loads((tmp_path / "s.json").read_text())
    ref = resolution_summary(reco, truth, success=status == 0)
    assert summary["vertex_error_m"]["median"] == pytest.approx(ref["vertex_error_m"]["median"])
    assert main(["resolution", str(path), "--output-key", "Nope"]) == 2
    assert "Nope" in capsys.readouterr().err
