"""Reconstruction engine on an analytic objective: parameter space, row gathering, the trust-region
solver, batched vs one-by-one vs scipy fits, fixed parameters, bounds, covariance, failing events.

The objective here is a small closed-form cascade-like likelihood written in this file (Poisson
charges of an exponential-falloff emitter with a forward-peaked angular factor plus a Gaussian
arrival-time term), so the engine is tested without depending on the model or the simulator.
References are independent: numpy finite differences, scipy.optimize, brute-force sampling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import tensorflow as tf
from egenerator import CASCADE_PARAMETER_NAMES
from egenerator.data.batch import EventBatch
from egenerator.data.tensors import batch_to_tensors
from egenerator.reco.covariance import chart_jacobian, covariance_from_hessian
from egenerator.reco.output import RecoOutputWriter, covariance_columns
from egenerator.reco.parameter_space import ParameterSpace, direction_vector
from egenerator.reco.reconstructor import Reconstructor
from egenerator.reco.settings import RecoSettings, RecoSettingsError
from egenerator.reco.status import FitStatus, precheck_events
from egenerator.reco.tensor_rows import take_rows
from egenerator.reco.trust_region import solve_trust_region

NAMES = CASCADE_PARAMETER_NAMES
GRID = np.stack(
    np.meshgrid(np.linspace(-100, 100, 4), np.linspace(-100, 100, 4), np.linspace(-120, 120, 8)),
    -1,
).reshape(-1, 3)
SIGMA_T_NS = 5.0
C_M_PER_NS = 0.22


def toy_mu_np(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = p[0:3]
    zen, az, e, _ = p[3:]
    n = np.array([np.sin(zen) * np.cos(az), np.sin(zen) * np.sin(az), np.cos(zen)])
    diff = GRID - x
    r = np.sqrt((diff**2).sum(1) + 1e-6)
    cospsi = -(diff @ n) / r
    return e * 50 * np.exp(-r / 60) / (r * r + 25) * (1 + 0.8 * cospsi) + 0.01, r


def toy_loss_np(p: np.ndarray, batch: EventBatch, b: int) -> float:
    """numpy twin of the TF toy objective for event b (reference for finite differences)."""
    mu, r = toy_mu_np(p)
    valid = batch.dom_valid[b]
    q = batch.dom_charge[b]
    charge = np.sum(valid * (mu - q * np.log(mu)))
    sel = batch.pulse_event == b
    dom = batch.pulse_dom[sel]
    texp = p[6] + r[dom] / C_M_PER_NS
    term = (
        valid[dom]
        * batch.pulse_charge_pe[sel]
        * 0.5
        * ((batch.pulse_time_ns[sel] - texp) / SIGMA_T_NS) ** 2
    )
    return float(charge + term.sum())


def toy_objective(params, tensors):
    pos = tf.constant(GRID, tf.float64)
    x = params[:, 0:3]
    zen, az, e, t0 = params[:, 3], params[:, 4], params[:, 5], params[:, 6]
    n = tf.stack([tf.sin(zen) * tf.cos(az), tf.sin(zen) * tf.sin(az), tf.cos(zen)], -1)
    diff = pos[None] - x[:, None]
    r = tf.sqrt(tf.reduce_sum(diff * diff, -1) + 1e-6)
    cospsi = -tf.reduce_sum(n[:, None] * diff, -1) / r
    mu = e[:, None] * 50.0 * tf.exp(-r / 60.0) / (r * r + 25.0) * (1.0 + 0.8 * cospsi) + 0.01
    valid = tf.cast(tensors["dom_valid"], tf.float64)
    charge = tf.reduce_sum(valid * (mu - tensors["dom_charge"] * tf.math.log(mu)), 1)
    ev, dom = tensors["pulse_event"], tensors["pulse_dom"]
    idx = tf.stack([ev, dom], 1)
    texp = tf.gather(t0, ev) + tf.gather_nd(r, idx) / C_M_PER_NS
    term = (
        tf.gather_nd(valid, idx)
        * tensors["pulse_charge_pe"]
        * 0.5
        * ((tensors["pulse_time_ns"] - texp) / SIGMA_T_NS) ** 2
    )
    return charge + tf.math.unsorted_segment_sum(term, ev, tf.shape(params)[0])


def make_batch(truths: np.ndarray, seed: int) -> EventBatch:
    rng = np.random.default_rng(seed)
    d, b = len(GRID), len(truths)
    q = np.zeros((b, d))
    pe, pd_, pt, pc = [], [], [], []
    for k, p in enumerate(truths):
        mu, r = toy_mu_np(p)
        q[k] = rng.poisson(mu)
        for dom in np.flatnonzero(q[k]):
            pe.append(k)
            pd_.append(dom)
            pc.append(q[k, dom])
            pt.append(p[6] + r[dom] / C_M_PER_NS + rng.normal(0, SIGMA_T_NS))
    return EventBatch(
        parameters=np.asarray(truths, float),
        pulse_charge_pe=np.array(pc, float),
        pulse_time_ns=np.array(pt, float),
        pulse_event=np.array(pe, np.int64),
        pulse_dom=np.array(pd_, np.int64),
        dom_charge=q,
        dom_valid=np.ones((b, d), bool),
        time_window_ns=np.tile([0.0, 20000.0], (b, 1)),
        window_exclusions_ns=np.zeros((0, 2)),
        window_event=np.zeros(0, np.int64),
        window_dom=np.zeros(0, np.int64),
        event_id=np.column_stack([np.full(b, 7), np.arange(b), np.zeros(b), np.zeros(b)]).astype(
            np.int64
        ),
        weights=np.ones(b),
    )


def make_truths(num: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(-40, 40, (num, 3)),
            np.arccos(rng.uniform(-0.9, 0.9, num)),
            rng.uniform(0, 2 * np.pi, num),
            10 ** rng.uniform(3, 4, num),
            rng.uniform(9000, 10000, num),
        ]
    )


def shifted(truths: np.ndarray) -> np.ndarray:
    seeds = truths.copy()
    seeds[:, :3] += 15.0
    seeds[:, 3] = np.clip(seeds[:, 3] + 0.4, 0.05, np.pi - 0.05)
    seeds[:, 5] *= 2.0
    seeds[:, 6] += 30.0
    return seeds


@pytest.fixture(scope="module")
def toy():
    truths = make_truths(6, seed=3)
    batch = make_batch(truths, seed=4)
    # the toy is smooth: a small finite-difference step gives Hessians accurate to ~1e-6, and
    # the fits run to the Newton tolerance (no early stop on a stalling loss)
    settings = {"tf_optimizer_settings": {"hessian_step": 1e-3, "stall_tolerance": 1e-9}}
    reco = Reconstructor(
        objective=toy_objective, parameter_names=NAMES, num_doms=len(GRID), settings=settings
    )
    reco.warm_up()
    return truths, batch, reco


@pytest.fixture(scope="module")
def toy_fit(toy):
    truths, batch, reco = toy
    return reco.fit(batch, shifted(truths))


# ---------------------------------------------------------------------- parameter space
def test_parameter_space_maps():
    space = ParameterSpace.build(NAMES)
    center = np.array(
        [[10.0, -5.0, 3.0, 1.0, 5.5, 1e4, 9000.0], [0.0, 0.0, 0.0, 2.9, 0.2, 50.0, 1.0]]
    )
    zero = space.to_physical(tf.constant(center), tf.zeros_like(center)).numpy()
    np.testing.assert_allclose(zero[:, [0, 1, 2, 5, 6]], center[:, [0, 1, 2, 5, 6]], rtol=1e-15)
    np.testing.assert_allclose(
        direction_vector(zero[:, 3], zero[:, 4]),
        direction_vector(center[:, 3], center[:, 4]),
        atol=1e-15,
    )
    u = np.array([[1.0, -2.0, 0.5, 3.0, -4.0, 2.0, 1.5]] * 2)
    moved = space.to_physical(tf.constant(center), tf.constant(u)).numpy()
    np.testing.assert_allclose(moved[:, 0:3], center[:, 0:3] + u[:, 0:3] * 10.0)
    np.testing.assert_allclose(moved[:, 5], center[:, 5] * np.exp(0.2))
    np.testing.assert_allclose(moved[:, 6], center[:, 6] + 1.5 * 20.0)
    # the tangent offsets (a, b) move the direction by the angle |(a, b)| * scale
    angle = np.arccos(
        np.clip(
            np.sum(
                direction_vector(moved[:, 3], moved[:, 4])
                * direction_vector(center[:, 3], center[:, 4]),
                1,
            ),
            -1,
            1,
        )
    )
    np.testing.assert_allclose(angle, np.hypot(3.0, -4.0) * 0.1, rtol=1e-12)
    # fixed parameters are copied bit for bit; bad names are errors
    fixed = ParameterSpace.build(NAMES, free={"time": False, "energy": False})
    out = fixed.to_physical(tf.constant(center), tf.constant(u)).numpy()
    assert np.array_equal(out[:, 5:7], center[:, 5:7])
    with pytest.raises(ValueError, match="not a parameter"):
        ParameterSpace.build(NAMES, free={"bogus": True})


def test_chart_derivatives_finite_at_pole():
    space = ParameterSpace.build(NAMES)
    center = tf.constant([[0.0, 0.0, 0.0, 0.0, 1.0, 100.0, 0.0]], tf.float64)
    u = tf.zeros_like(center)
    with tf.GradientTape() as outer:
        outer.watch(u)
        with tf.GradientTape() as inner:
            inner.watch(u)
            vec = direction_vector(*tf.unstack(space.to_physical(center, u)[:, 3:5], axis=1))
            value = tf.reduce_sum(vec * tf.constant([0.3, -0.2, 0.9], tf.float64))
        grad = inner.gradient(value, u)
    hess = outer.jacobian(grad, u)
    assert np.all(np.isfinite(grad.numpy())) and np.all(np.isfinite(hess.numpy()))


def test_take_rows_matches_select(toy):
    _, batch, _ = toy
    rows = np.array([3, 0, 0, 5, 2])
    tensors = batch_to_tensors(batch, tf.float64)
    got = take_rows(tensors, tf.constant(rows))
    ref = batch.select(rows[[1, 0, 3, 4]])  # select() cannot repeat; compare via per-row pulses
    for k, r in enumerate(rows):
        mine = got["pulse_event"].numpy() == k
        theirs = batch.pulse_event == r
        np.testing.assert_array_equal(
            got["pulse_time_ns"].numpy()[mine], batch.pulse_time_ns[theirs]
        )
        np.testing.assert_array_equal(got["pulse_dom"].numpy()[mine], batch.pulse_dom[theirs])
        np.testing.assert_array_equal(got["dom_charge"].numpy()[k], batch.dom_charge[r])
    assert ref.num_events == 4


# ---------------------------------------------------------------------- trust-region subproblem
def _model(g, h, s):
    return g @ s + 0.5 * s @ h @ s


@pytest.mark.parametrize("case", ["inside", "boundary", "indefinite"])
def test_trust_region_subproblem_vs_brute_force(case):
    rng = np.random.default_rng(11)
    p = 4
    a = rng.normal(size=(p, p))
    h = a @ a.T + 0.5 * np.eye(p)
    if case == "indefinite":
        h = h - 3.0 * np.eye(p)
    g = rng.normal(size=p)
    newton = -np.linalg.solve(h, g)
    radius = 2.0 * np.linalg.norm(newton) if case == "inside" else 0.3
    step, dec = solve_trust_region(g[None], h[None], np.array([radius]))
    step = step[0]
    assert np.linalg.norm(step) <= radius * (1 + 1e-9)
    if case == "inside":
        np.testing.assert_allclose(step, newton, rtol=1e-10)
        np.testing.assert_allclose(dec[0], 0.5 * g @ np.linalg.solve(h, g), rtol=1e-12)
    # brute force: no point of the ball has a lower model value
    dirs = rng.normal(size=(20000, p))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = dirs * radius * rng.uniform(0, 1, (20000, 1)) ** (1 / p)
    pts = np.concatenate([pts, dirs * radius])
    values = pts @ g + 0.5 * np.einsum("ni,ij,nj->n", pts, h, pts)
    assert _model(g, h, step) <= values.min() + 1e-9


# ---------------------------------------------------------------------- fits on the toy
def _scipy_reference(batch, b, start):
    """Independent reference minimum: Nelder-Mead polish of a BFGS fit on the numpy twin."""

    def fun(v):
        p = np.concatenate([v[:5], [np.exp(v[5])], v[6:]])
        return toy_loss_np(p, batch, b)

    v0 = np.concatenate([start[:5], [np.log(start[5])], start[6:]])
    res = scipy.optimize.minimize(fun, v0, method="BFGS", options={"gtol": 1e-8})
    res = scipy.optimize.minimize(
        fun, res.x, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20000}
    )
    return np.concatenate([res.x[:5], [np.exp(res.x[5])], res.x[6:]]), res.fun


def test_batched_fit_reaches_the_minimum(toy, toy_fit):
    truths, batch, _ = toy
    fit = toy_fit
    assert np.all(fit.fit_status == FitStatus.OK)
    assert np.all(fit.num_iterations < 20)
    assert np.all(fit.loss_reco < fit.loss_seed)
    for b in (0, 3):
        ref, ref_loss = _scipy_reference(batch, b, truths[b])
        assert fit.loss_reco[b] <= ref_loss + 1e-5  # the Newton-decrement tolerance
        np.testing.assert_allclose(fit.parameters[b, :3], ref[:3], atol=1e-3)
        np.testing.assert_allclose(fit.parameters[b, 5], ref[5], rtol=1e-4)


def test_batched_equals_one_by_one(toy, toy_fit):
    truths, batch, reco = toy
    seeds = shifted(truths)
    for b in (1, 4):
        single = reco.fit(batch.select([b]), seeds[b : b + 1])
        np.testing.assert_allclose(
            single.parameters[0], toy_fit.parameters[b], rtol=1e-9, atol=1e-9
        )
        np.testing.assert_allclose(single.loss_reco[0], toy_fit.loss_reco[b], rtol=1e-12)


def test_scipy_interface_agrees(toy, toy_fit):
    truths, batch, reco = toy
    seeds = shifted(truths)[:3]
    sub = batch.select([0, 1, 2])
    per_event = reco.fit(sub, seeds, interface="scipy")
    assert np.all(per_event.fit_status == FitStatus.OK)
    # L-BFGS-B stops on a relative tolerance: within 1e-2 in loss, never below the Newton fit
    assert np.all(per_event.loss_reco >= toy_fit.loss_reco[:3] - 1e-6)
    assert np.all(per_event.loss_reco - toy_fit.loss_reco[:3] < 1e-2)
    joint_settings = RecoSettings.from_config(
        {
            "reco_optimizer_interface": "scipy",
            "scipy_optimizer_settings": {"method": "BFGS", "mode": "joint"},
        }
    )
    joint = Reconstructor(
        objective=toy_objective, parameter_names=NAMES, num_doms=len(GRID), settings=joint_settings
    )
    res = joint.fit(sub, seeds)
    assert np.all(res.loss_reco - toy_fit.loss_reco[:3] < 1e-2)


def test_multiple_seeds_keep_the_best(toy, toy_fit):
    truths, batch, reco = toy
    seeds = np.stack([shifted(truths), truths], axis=1)[:2]
    seeds[0, 0, 3] = np.pi - seeds[0, 0, 3]  # a poor first seed
    res = reco.fit(batch.select([0, 1]), seeds)
    assert res.all_losses.shape == (2, 2)
    np.testing.assert_array_equal(res.loss_reco, np.nanmin(res.all_losses, axis=1))
    np.testing.assert_allclose(res.loss_reco, toy_fit.loss_reco[:2], atol=1e-6)


def test_fixed_parameters_and_bounds(toy):
    truths, batch, _ = toy
    settings = {
        "minimize_parameter_dict": {"azimuth": False, "time": False},
        "parameter_boundaries": {"energy": [10.0, 1000.0], "x": [-5.0, 5.0]},
    }
    reco = Reconstructor(
        objective=toy_objective, parameter_names=NAMES, num_doms=len(GRID), settings=settings
    )
    seeds = shifted(truths)[:3]
    seeds[:, 5] = 500.0
    seeds[:, 0] = 0.0
    res = reco.fit(batch.select([0, 1, 2]), seeds)
    assert np.array_equal(res.parameters[:, 4], reco.space.normalise_angles(seeds)[:, 4])
    assert np.array_equal(res.parameters[:, 6], seeds[:, 6])
    assert np.all(res.parameters[:, 5] <= 1000.0) and np.all(res.parameters[:, 5] >= 10.0)
    assert np.all(np.abs(res.parameters[:, 0]) <= 5.0)
    # energies of these events are > 1000 GeV: the fit ends on the bound
    assert np.all(truths[:3, 5] > 1000.0)
    np.testing.assert_allclose(res.parameters[:, 5], 1000.0)
    # reference: scipy L-BFGS-B on the numpy twin with the same fixed values and bounds
    for b in range(3):
        free = [0, 1, 2, 3, 5]
        lo = [-5, -np.inf, -np.inf, 0, 10]
        hi = [5, np.inf, np.inf, np.pi, 1000]

        def fun(v, b=b, free=free):
            p = seeds[b].copy()
            p[free] = v
            return toy_loss_np(p, batch, b)

        ref = scipy.optimize.minimize(
            fun,
            res.parameters[b, free],
            method="L-BFGS-B",
            bounds=list(zip(lo, hi, strict=True)),
            options={"ftol": 1e-14, "gtol": 1e-9},
        )
        assert res.loss_reco[b] <= ref.fun + 1e-6


def test_covariance_matches_finite_difference_hessian(toy, toy_fit):
    truths, batch, reco = toy
    cov = reco.covariance(batch, toy_fit.parameters)
    reused = reco.covariance(batch, toy_fit)  # the minimiser's own last Hessians
    assert np.all(toy_fit.hessian_current)
    np.testing.assert_allclose(reused.covariance, cov.covariance, rtol=1e-6, atol=1e-12)
    assert cov.names == ("x", "y", "z", "zenith", "azimuth", "log_energy", "time")
    assert np.all(cov.positive_definite)
    for b in (0, 2):
        best = toy_fit.parameters[b]
        rep = np.concatenate([best[:5], [np.log(best[5])], best[6:]])

        def fun(v, b=b):
            return toy_loss_np(np.concatenate([v[:5], [np.exp(v[5])], v[6:]]), batch, b)

        steps = np.array([0.05, 0.05, 0.05, 1e-3, 1e-3, 1e-3, 0.1])
        p = len(rep)
        h = np.zeros((p, p))
        for i in range(p):
            for j in range(p):
                ei, ej = np.eye(p)[i] * steps[i], np.eye(p)[j] * steps[j]
                h[i, j] = (
                    fun(rep + ei + ej)
                    - fun(rep + ei - ej)
                    - fun(rep - ei + ej)
                    + fun(rep - ei - ej)
                ) / (4 * steps[i] * steps[j])
        ref = np.linalg.inv(0.5 * (h + h.T))
        sig_ref = np.sqrt(np.diag(ref))
        sig = np.sqrt(np.diag(cov.covariance[b]))
        np.testing.assert_allclose(sig, sig_ref, rtol=2e-3)
        corr = cov.covariance[b] / np.outer(sig, sig)
        np.testing.assert_allclose(corr, ref / np.outer(sig_ref, sig_ref), atol=2e-3)
        # circularised uncertainty = sqrt((s_zen^2 + sin^2(zen) s_az^2) / 2)
        circ = np.sqrt((ref[3, 3] + np.sin(best[3]) ** 2 * ref[4, 4]) / 2)
        np.testing.assert_allclose(cov.circular_uncertainty_rad[b, 0], circ, rtol=3e-3)


def test_covariance_from_hessian_fixed_parameters():
    space = ParameterSpace.build(NAMES, free={"time": False}, scales={n: 1.0 for n in NAMES})
    h = np.diag(np.arange(1.0, 8.0))[None]
    at = np.array([[0.0, 0.0, 0.0, np.pi / 2, 1.0, 100.0, 0.0]])
    res = covariance_from_hessian(space, h, at)
    np.testing.assert_allclose(np.diag(res.covariance[0])[:6], 1.0 / np.arange(1.0, 7.0))
    assert res.covariance[0, 6, 6] == 0.0


def test_chart_jacobian_matches_autodiff():
    space = ParameterSpace.build(NAMES)
    at = np.array([[1.0, 2.0, 3.0, 0.4, 5.0, 300.0, 10.0], [0.0, 0.0, 0.0, 2.8, 0.1, 1e5, 0.0]])
    center = tf.constant(at)
    u = tf.zeros_like(center)
    with tf.GradientTape() as tape:
        tape.watch(u)
        rep = space.representation(space.to_physical(center, u))
    np.testing.assert_allclose(
        tape.batch_jacobian(rep, u).numpy(), chart_jacobian(space, at), rtol=1e-12, atol=1e-14
    )


def test_failing_events_are_flagged(toy, toy_fit):
    truths, batch, reco = toy
    fields = batch.as_dict()
    valid = fields["dom_valid"].copy()
    valid[1] = False  # every DOM of event 1 excluded
    keep = fields["pulse_event"] != 2  # event 2 has no pulses
    charge = fields["dom_charge"].copy()
    charge[2] = 0.0
    times = fields["pulse_time_ns"].copy()
    times[np.flatnonzero(fields["pulse_event"] == 4)[0]] = np.nan  # NaN loss for event 4
    fields.update(
        dom_valid=valid,
        dom_charge=charge,
        pulse_event=fields["pulse_event"][keep],
        pulse_dom=fields["pulse_dom"][keep],
        pulse_time_ns=times[keep],
        pulse_charge_pe=fields["pulse_charge_pe"][keep],
    )
    bad = EventBatch(**fields)
    assert list(precheck_events(bad)[:3]) == [0, FitStatus.ALL_DOMS_EXCLUDED, FitStatus.NO_PULSES]
    seeds = shifted(truths)
    seeds[3, 5] = np.nan  # no usable seed
    res = reco.fit(bad, seeds)
    assert res.fit_status[1] == FitStatus.ALL_DOMS_EXCLUDED
    assert res.fit_status[2] == FitStatus.NO_PULSES
    assert res.fit_status[3] == FitStatus.MISSING_SEED
    assert res.fit_status[4] == FitStatus.NAN
    assert not res.success[1:5].any() and np.all(np.isnan(res.parameters[1:5]))
    for b in (0, 5):
        assert res.fit_status[b] == FitStatus.OK
        np.testing.assert_allclose(res.parameters[b], toy_fit.parameters[b], rtol=1e-9, atol=1e-9)


def test_output_tables_readable_with_pandas(toy, toy_fit, tmp_path):
    truths, batch, reco = toy
    cov = reco.covariance(batch, toy_fit.parameters)
    path = tmp_path / "reco.hdf5"
    with RecoOutputWriter(path, "EventGenerator", NAMES) as out:
        out.append(
            batch.event_id[:3],
            _slice(toy_fit, slice(0, 3)),
            {"reco": 0.3},
            _cslice(cov, slice(0, 3)),
        )
        out.append(
            batch.event_id[3:],
            _slice(toy_fit, slice(3, 6)),
            {"reco": 0.3},
            _cslice(cov, slice(3, 6)),
        )
    main = pd.read_hdf(path, "EventGenerator")
    particle = pd.read_hdf(path, "EventGenerator_I3Particle")
    covt = pd.read_hdf(path, "EventGenerator_cov_matrix_cov")
    assert len(main) == len(particle) == len(covt) == 6
    for column in (
        "loss_reco",
        "loss_seed",
        "minimization_success",
        "runtime_reco",
        "fit_status",
        "energy",
    ):
        assert column in main.columns
    np.testing.assert_allclose(main["energy"], toy_fit.parameters[:, 5])
    np.testing.assert_allclose(main["runtime_reco"], 0.1)
    np.testing.assert_array_equal(main["Event"], batch.event_id[:, 1])
    assert np.all((particle["zenith"] >= 0) & (particle["zenith"] <= np.pi))
    assert np.all((particle["azimuth"] >= 0) & (particle["azimuth"] < 2 * np.pi))
    assert "log_energy_log_energy" in covt.columns and "x_log_energy" in covt.columns
    assert "log_energy_x" not in covt.columns  # upper triangle only
    np.testing.assert_allclose(covt["x_y"], cov.covariance[:, 0, 1])
    assert set(covariance_columns(cov.covariance, cov.names)) <= set(covt.columns)


def _slice(fit, sl):
    from dataclasses import fields as dc_fields

    return type(fit)(
        **{
            f.name: (
                getattr(fit, f.name)[sl]
                if isinstance(getattr(fit, f.name), np.ndarray)
                else getattr(fit, f.name)
            )
            for f in dc_fields(fit)
        }
    )


def _cslice(cov, sl):
    from dataclasses import fields as dc_fields

    return type(cov)(
        **{
            f.name: (
                getattr(cov, f.name)[sl]
                if isinstance(getattr(cov, f.name), np.ndarray)
                else getattr(cov, f.name)
            )
            for f in dc_fields(cov)
        }
    )


def test_settings_from_config():
    s = RecoSettings.from_config(
        {
            "reco_optimizer_interface": "tfp",
            "scipy_optimizer_settings": {"method": "BFGS", "options": {"gtol": 1e-6}},
            "minimize_parameter_dict": {"time": False},
            "tf_optimizer_settings": {"max_iterations": 10},
            "seed_missing_value": None,
        }
    )
    assert s.interface == "batched" and s.trust_region.max_iterations == 10
    assert s.scipy_method == "BFGS" and s.seed_missing_value is None
    with pytest.raises(RecoSettingsError, match="tf_optimizer_settings"):
        RecoSettings.from_config({"tf_optimizer_settings": {"bogus": 1}})
    with pytest.raises(RecoSettingsError, match="reco_optimizer_interface"):
        RecoSettings.from_config({"reco_optimizer_interface": "nope"})
