"""`egenerator demo` at a tiny size (the pipeline of `make demo`, in CI time).

Simulate -> trafo -> train 20 steps -> export -> reconstruct with the model and the oracle
(the oracle on the first test event, from the model's first-guess seeds) -> table, plots,
summary. The figures of a tiny run mean nothing; the test checks that every stage ran and
wrote what the README promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_output"
    command = [sys.executable, "-m", "egenerator.cli", "demo", "--output", str(out)]
    command += ["--steps", "20", "--train-events", "64", "--validation-events", "32"]
    command += ["--test-events", "2", "--oracle-events", "1", "--no-progress"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


def test_every_stage_ran(demo):
    out, stdout = demo
    for stage in range(1, 7):
        assert f"== {stage}/6" in stdout
    assert (out / "exported_model" / "export.yaml").is_file()
    summary = json.loads((out / "demo_summary.json").read_text())
    timings = summary["timings"]
    for key in ("simulate_s", "trafo_s", "train_s", "export_s", "reco_model_s", "reco_oracle_s"):
        assert timings[key] > 0
    assert timings["total_s"] >= sum(v for k, v in timings.items() if k != "total_s") * 0.99
    assert summary["resolution"]["oracle"]["num_events"] == 1
    assert summary["resolution"]["model_all_test_events"]["num_events"] == 2


def test_table_and_plots(demo):
    out, stdout = demo
    table = (out / "demo_table.txt").read_text()
    assert table in stdout
    for row in ("median angular error [deg]", "68% vertex error [m]", "model/oracle"):
        assert row in table
    assert "fits with loss <= loss at the truth" in table
    for label in ("model", "oracle"):
        pngs = sorted(p.name for p in (out / "plots" / label).glob("*.png"))
        assert pngs == ["angular_error_vs_energy.png", "energy_ratio.png", "pulls.png"]
        assert all((out / "plots" / label / name).stat().st_size > 1000 for name in pngs)


def test_outputs_use_the_old_names(demo):
    out, _ = demo
    model = pd.read_hdf(out / "reco_model.hdf5", "EventGenerator")
    oracle = pd.read_hdf(out / "reco_oracle.hdf5", "EventGenerator")
    assert len(model) == 2 and len(oracle) == 1
    for table in (model, oracle):
        for column in ("cascade_energy", "loss_reco", "loss_seed", "minimization_success"):
            assert column in table.columns
    particles = pd.read_hdf(out / "reco_model.hdf5", "EventGenerator_I3Particle")
    assert {"x", "y", "z", "zenith", "azimuth", "energy", "time"} <= set(particles.columns)
    # the oracle started from the model's first-guess seeds: the seed losses differ (other
    # likelihood) but both runs have one best seed per event
    assert oracle["best_seed"].between(0, 2).all()
