"""The oracle likelihood prefers the truth: shifted hypotheses score worse (issue: models).

Events of the embedded simulator on the ic86-like detector, vertices inside the central
strings (r < 300 m, |z| < 400 m), 30-300 TeV. At the true parameters the negative log-likelihood (pulse times +
Poisson charges, the reconstruction's oracle loss) must be lower than at parameters shifted by
20 m in position or 30 % in energy for at least 95 % of the events.

Direction is different in this simulator, by its physics: the direct (direction-carrying) light
fraction falls as exp(-r / 12 m) and the Pandel delays depend on distance only, so only DOMs
within a few tens of metres see the cascade's direction. A small study (20 events, this seed)
found the truth better than a 10-degree rotation in 80 % of events on the full detector (75 % on
the 7-string one); we require 70 %, which fails for a likelihood blind to direction (~50 %).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

NUM_EVENTS = 20


@pytest.fixture(scope="module")
def study(tmp_path_factory, ic86_detector):
    from egenerator.data.loader import load_events
    from egenerator.data.tensors import batch_to_tensors
    from egenerator.io.writer import write_simulation
    from egenerator.loss.module import MultiLossModule
    from egenerator.model.source.oracle import build_oracle
    from egenerator.reco.driver import DEFAULT_DATA_SETTINGS, ORACLE_LOSS_SETTINGS
    from egenerator.sim.physics import PhysicsConfig
    from egenerator.sim.sampler import simulate_events

    physics = dataclasses.replace(
        PhysicsConfig(), vertex_radius_m=300.0, vertex_height_m=800.0, energy_range_gev=(3e4, 3e5)
    )
    path = tmp_path_factory.mktemp("study") / "events.hdf5"
    write_simulation(path, simulate_events(NUM_EVENTS, 11, ic86_detector, physics), ic86_detector)
    source = build_oracle(ic86_detector, physics)
    names = list(source.parameter_names)
    batch = load_events(path, DEFAULT_DATA_SETTINGS, names, ic86_detector)
    tensors = batch_to_tensors(batch, parameter_dtype=np.float64)
    loss = MultiLossModule.from_settings(ORACLE_LOSS_SETTINGS)

    def nll(parameters: np.ndarray) -> np.ndarray:
        results = source(tf_constant(parameters), tensors)
        totals, _ = loss(tensors, results)
        return np.asarray(totals)

    return batch.parameters.copy(), nll


def tf_constant(values):
    import tensorflow as tf

    return tf.constant(values, dtype=tf.float64)


def _rotate(zenith, azimuth, angle_rad, rng):
    """Directions `angle_rad` away from (zenith, azimuth), in a random rotation sense."""
    d = np.stack(
        [np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth), np.cos(zenith)], 1
    )
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(d, e1)
    phi = rng.uniform(0, 2 * np.pi, len(d))[:, None]
    new = np.cos(angle_rad) * d + np.sin(angle_rad) * (np.cos(phi) * e1 + np.sin(phi) * e2)
    return np.arccos(np.clip(new[:, 2], -1, 1)), np.mod(np.arctan2(new[:, 1], new[:, 0]), 2 * np.pi)


def test_truth_beats_shifted_hypotheses(study):
    truth, nll = study
    rng = np.random.default_rng(5)
    at_truth = nll(truth)
    assert np.all(np.isfinite(at_truth))

    shifted_position = truth.copy()
    offset = rng.normal(size=(len(truth), 3))
    offset *= 20.0 / np.linalg.norm(offset, axis=1, keepdims=True)
    shifted_position[:, 0:3] += offset

    shifted_direction = truth.copy()
    shifted_direction[:, 3], shifted_direction[:, 4] = _rotate(
        truth[:, 3], truth[:, 4], np.radians(10.0), rng
    )

    shifted_energy = truth.copy()
    shifted_energy[:, 5] *= np.where(rng.uniform(size=len(truth)) < 0.5, 0.7, 1.3)

    for label, shifted, required in (
        ("20 m", shifted_position, 0.95),
        ("10 deg", shifted_direction, 0.70),
        ("30 % energy", shifted_energy, 0.95),
    ):
        better = at_truth < nll(shifted)
        assert better.mean() >= required, f"{label}: truth better in {better.mean():.0%} of events"
