"""`egenerator reco` with an exported model, end to end, and `egenerator resolution` on its output.

The model is the tiny test config trained for a few steps (the command's wiring is tested here:
export loading, data and loss settings, seeds from a table and from the first guess, covariance,
goodness of fit with the model's own sampler, output tables; the engine's accuracy is tested
with the oracle in test_reco_oracle.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from egenerator.cli import main as cli_main
from egenerator.io.writer import write_simulation
from egenerator.reco.status import FitStatus
from egenerator.sim.physics import PhysicsConfig
from egenerator.sim.sampler import simulate_events

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, small_detector):
    root = tmp_path_factory.mktemp("reco_cmd")
    small_detector.to_csv(root / "detector.csv")
    (root / "data").mkdir()
    for name, events, seed in (("train_0", 32, 3), ("validation_0", 16, 4)):
        write_simulation(
            root / "data" / f"{name}.hdf5",
            simulate_events(events, seed, small_detector, energy_range_gev=(1e3, 1e5)),
            small_detector,
        )
    raw = yaml.safe_load((CONFIGS / "tiny_test.yaml").read_text())
    raw["unique_name"] = "reco_tiny"
    raw["training_settings"].update(validation_frequency=10, save_frequency=10)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert cli_main(["trafo", str(config)]) == 0
    assert cli_main(["train", str(config), "--steps", "10", "--no-progress"]) == 0
    assert cli_main(["export", str(config), "-o", str(root / "exported")]) == 0
    test_file = root / "data" / "test.hdf5"
    physics = PhysicsConfig(vertex_radius_m=60.0, vertex_height_m=300.0)
    write_simulation(
        test_file,
        simulate_events(3, 9, small_detector, config=physics, energy_range_gev=(3e3, 3e4)),
        small_detector,
    )
    return {"root": root, "export": root / "exported", "test": test_file}


def test_reco_and_resolution_commands(exported, capsys):
    out = exported["root"] / "reco.hdf5"
    rc = cli_main(
        [
            "reco",
            str(exported["export"]),
            str(exported["test"]),
            "-o",
            str(out),
            "--seed-key",
            "MCCascade",
            "--first-guess",
            "1",
            "--covariance",
            "--gof",
            "2",
            "--output-key",
            "MyFit",
        ]
    )
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "3 events" in printed.out
    main = pd.read_hdf(out, "MyFit")
    assert len(main) == 3
    for column in (
        "cascade_x",
        "loss_reco",
        "loss_seed",
        "fit_status",
        "gof_pvalue",
        "runtime_seed",
        "runtime_reco",
        "runtime_covariance",
        "runtime_gof",
    ):
        assert column in main.columns, column
    assert set(main["fit_status"].astype(int)) <= {int(s) for s in FitStatus}
    assert np.all(main["loss_reco"] <= main["loss_seed"] + 1e-9)
    assert np.all(main["best_seed"].isin([0, 1]))  # table seed or first guess
    assert len(pd.read_hdf(out, "MyFit_I3Particle")) == 3
    assert len(pd.read_hdf(out, "MyFit_cov_matrix_cov")) == 3
    assert len(pd.read_hdf(out, "MCCascade")) == 3  # truth copied for the resolution
    ok = np.isfinite(main["gof_pvalue"])
    assert np.all((main["gof_pvalue"][ok] > 0) & (main["gof_pvalue"][ok] <= 1))
    assert cli_main(["resolution", str(out), "--output-key", "MyFit", "--all-events"]) == 0
    assert "events: 3" in capsys.readouterr().out


def test_reco_command_errors(exported, capsys):
    out = exported["root"] / "bad.hdf5"
    assert cli_main(["reco", str(exported["export"]), "-o", str(out)]) == 2
    assert "input file" in capsys.readouterr().err
    rc = cli_main(
        [
            "reco",
            str(exported["export"]),
            str(exported["test"]),
            "-o",
            str(out),
            "--seed-key",
            "Nope",
        ]
    )
    assert rc == 2
    assert "Nope" in capsys.readouterr().err
    assert cli_main(["reco", str(exported["root"]), str(exported["test"]), "-o", str(out)]) == 2
