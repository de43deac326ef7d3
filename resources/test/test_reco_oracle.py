"""Reconstruction with the oracle (the simulator's exact likelihood) on simulated events.

One Reconstructor is shared by every test (tracing the oracle's likelihood and gradient takes
about 30-60 s; everything else reuses that graph).

Study behind the bounds (this configuration: the 7-string test detector, vertices within 60 m of
the central string and |z| < 150 m, 3-30 TeV, 20 events with simulator seed 11; seeds shifted
from the truth by (+8, -6, +8) m, +0.15 rad zenith, +0.2 rad azimuth, x1.5 energy, +15 ns):
median angular error 14.0 deg and median vertex error 2.2 m (fits started at the truth: 7.6 deg
and 1.5 m); 2 of 20 fits ended in a worse local minimum (the likelihood has cusps: the Cherenkov
peak ``|cos psi - 1/n|^0.3``). With 6 events the median fluctuates by about a factor 1.5, so
the bounds are twice the study's medians: 30 deg and 5 m, and at least 4 of 6 fits must reach a
loss within 2 of the fit started at the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from egenerator.data.loader import load_events
from egenerator.io.schema import PARTICLE_FIELDS, i3particle_columns, units_and_docs
from egenerator.io.writer import HdfwriterWriter, write_simulation
from egenerator.reco.driver import oracle_setup, reconstruct_files
from egenerator.reco.goodness_of_fit import goodness_of_fit
from egenerator.reco.reconstructor import Reconstructor
from egenerator.reco.resolution import load_resolution_inputs, resolution_summary
from egenerator.reco.sampling import SimulatorSampler
from egenerator.reco.seeds import FirstGuessSeeder
from egenerator.reco.status import FitStatus
from egenerator.sim.physics import PhysicsConfig
from egenerator.sim.sampler import simulate_events

pytestmark = pytest.mark.slow

NUM_EVENTS = 6
SHIFT = np.array([8.0, -6.0, 8.0, 0.15, 0.2, 0.0, 15.0])
ENERGY_FACTOR = 1.5


def shifted_seeds(truth: np.ndarray) -> np.ndarray:
    seeds = truth + SHIFT
    seeds[:, 5] *= ENERGY_FACTOR
    return seeds


@pytest.fixture(scope="module")
def oracle_run(small_detector, tmp_path_factory):
    """Simulated file with a shifted seed table, reconstructed with the driver."""
    folder = tmp_path_factory.mktemp("oracle")
    path = folder / "sim.hdf5"
    config = PhysicsConfig(vertex_radius_m=60.0, vertex_height_m=300.0)
    events = simulate_events(
        NUM_EVENTS, seed=21, detector=small_detector, config=config, energy_range_gev=(3e3, 3e4)
    )
    write_simulation(path, events, small_detector)
    setup = oracle_setup(small_detector)
    # few events: a shorter warm-up is worth more than the faster fits of an optimised graph
    settings = {"skip_graph_optimization": True}
    reco = Reconstructor(
        setup.source, setup.loss_module, num_doms=small_detector.num_doms, settings=settings
    )
    reco.warm_up()
    batch = load_events(path, setup.data_handler_settings, reco.parameter_names, small_detector)
    seeds = shifted_seeds(batch.parameters)
    kinds = [seeds[:, i] for i in (0, 1, 2, 6, 3, 4, 5)]
    units, docs = units_and_docs(PARTICLE_FIELDS)
    with HdfwriterWriter(path, mode="a") as writer:
        writer.append_event_table(
            "ShiftedSeed", batch.event_id, i3particle_columns(*kinds), units=units, docs=docs
        )
    out = folder / "reco.hdf5"
    summary = reconstruct_files(
        setup,
        [path],
        out,
        seed_keys=["ShiftedSeed"],
        num_first_guess=0,
        covariance=True,
        batch_size=NUM_EVENTS,
        reconstructor=reco,
    )
    return {"path": path, "out": out, "batch": batch, "reco": reco, "summary": summary}


def test_shifted_seeds_return_near_the_truth(oracle_run):
    data = load_resolution_inputs(oracle_run["out"], "EventGenerator", "MCCascade")
    assert len(data["event_ids"]) == NUM_EVENTS
    summary = resolution_summary(data["reco"], data["truth"])
    assert summary["angular_error_deg"]["median"] < 30.0
    assert summary["vertex_error_m"]["median"] < 5.0
    assert abs(summary["log10_energy_ratio"]["median"]) < 0.1  # seeds were off by log10(1.5)
    main = pd.read_hdf(oracle_run["out"], "EventGenerator")
    assert np.all(main["loss_reco"] < main["loss_seed"])
    # compare with fits started at the truth
    batch, reco = oracle_run["batch"], oracle_run["reco"]
    from_truth = reco.fit(batch, batch.parameters)
    close = np.abs(main["loss_reco"].to_numpy() - from_truth.loss_reco) < 2.0
    assert close.sum() >= 4, main["loss_reco"].to_numpy() - from_truth.loss_reco


def test_output_tables(oracle_run):
    out = oracle_run["out"]
    main = pd.read_hdf(out, "EventGenerator")
    particle = pd.read_hdf(out, "EventGenerator_I3Particle")
    cov = pd.read_hdf(out, "EventGenerator_cov_matrix_cov")
    truth = pd.read_hdf(out, "MCCascade")
    assert len(main) == len(particle) == len(cov) == len(truth) == NUM_EVENTS
    for column in (
        "cascade_x",
        "cascade_energy",
        "loss_reco",
        "loss_seed",
        "minimization_success",
        "fit_status",
        "runtime_reco",
        "runtime_covariance",
        "circular_unc",
    ):
        assert column in main.columns, column
    assert "log_cascade_energy_log_cascade_energy" in cov.columns
    assert "cascade_x_cascade_time" in cov.columns
    ok = main["fit_status"].to_numpy() == FitStatus.OK
    assert ok.sum() >= 4
    assert np.all(cov["cascade_x_cascade_x"].to_numpy()[ok] > 0)
    assert np.all(np.isfinite(main["circular_unc"].to_numpy()[ok]))
    np.testing.assert_allclose(particle["energy"], main["cascade_energy"])
    assert np.all((particle["azimuth"] >= 0) & (particle["azimuth"] < 2 * np.pi))
    assert oracle_run["summary"].num_events == NUM_EVENTS


def test_batched_equals_one_by_one(oracle_run):
    batch, reco = oracle_run["batch"], oracle_run["reco"]
    main = pd.read_hdf(oracle_run["out"], "EventGenerator")
    names = reco.parameter_names
    seeds = shifted_seeds(batch.parameters)
    single = reco.fit(batch.select([1]), seeds[1:2])
    batched = main[list(names)].to_numpy()[1]
    np.testing.assert_allclose(single.parameters[0], batched, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(single.loss_reco[0], main["loss_reco"].to_numpy()[1], rtol=1e-12)


def test_failing_events_are_flagged(oracle_run):
    batch, reco = oracle_run["batch"], oracle_run["reco"]
    two = batch.select([0, 1])
    fields = two.as_dict()
    valid = fields["dom_valid"].copy()
    valid[0] = False  # every DOM excluded
    keep = fields["pulse_event"] != 1  # no pulses
    charge = fields["dom_charge"].copy()
    charge[1] = 0.0
    for key in ("pulse_event", "pulse_dom", "pulse_time_ns", "pulse_charge_pe"):
        fields[key] = fields[key][keep]
    fields.update(dom_valid=valid, dom_charge=charge)
    res = reco.fit(type(batch)(**fields), two.parameters)
    assert list(res.fit_status) == [FitStatus.ALL_DOMS_EXCLUDED, FitStatus.NO_PULSES]
    assert np.all(np.isnan(res.parameters))


def test_goodness_of_fit_with_the_simulator(oracle_run, small_detector):
    batch, reco = oracle_run["batch"], oracle_run["reco"]
    one = batch.select([0])
    fit = reco.fit(one, one.parameters)
    sampler = SimulatorSampler(small_detector, reco.parameter_names)
    gof = goodness_of_fit(reco, one, fit, sampler, num_pseudo_events=3, seed=4)
    assert gof.pseudo_losses.shape == (1, 3) and np.all(np.isfinite(gof.pseudo_losses))
    assert 0.25 <= gof.pvalue[0] <= 1.0


def test_first_guess_seeds(oracle_run, small_detector):
    batch, reco = oracle_run["batch"], oracle_run["reco"]
    two = batch.select([0, 1])
    seeder = FirstGuessSeeder(
        reco, small_detector, num_directions=6, num_seeds=2, prefit_iterations=2
    )
    seeds = seeder.seeds(two)
    assert seeds.shape == (2, 2, 7) and np.all(np.isfinite(seeds))
    vertex_error = np.linalg.norm(seeds[:, 0, :3] - two.parameters[:, :3], axis=1)
    # first-guess vertices: 17 m median in the study above; energies within a factor 3
    assert np.all(vertex_error < 60.0)
    assert np.all(np.abs(np.log10(seeds[:, 0, 5] / two.parameters[:, 5])) < 0.5)
