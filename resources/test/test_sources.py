"""Leaf sources: noise (closed form), cascade network (numpy reference, normalisation,
gradients vs finite differences, tracing), oracle (vs the numpy oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from egenerator.data.batch import EventBatch
from egenerator.data.tensors import batch_to_tensors, tensor_signature
from egenerator.detector import DetectorTable, ic86_like
from egenerator.model.source.base import SourceConfigError
from egenerator.model.source.cascade import CascadeSource
from egenerator.model.source.noise import NoiseSource
from scipy.special import ndtr

F64 = {"float_precision": "float64", "num_units": 16}


@pytest.fixture(scope="module")
def detector() -> DetectorTable:
    """Three neighbouring strings (180 DOMs)."""
    full = ic86_like()
    keep = np.isin(full.string, [1, 2, 3])
    return DetectorTable(
        **{k: getattr(full, k)[keep] for k in ("string", "om", "x", "y", "z")},
        efficiency=full.efficiency[keep],
        noise_rate_hz=full.noise_rate_hz[keep],
        dead=np.zeros(int(keep.sum()), dtype=bool),
    )


def batch_from(
    num_doms: int,
    windows: np.ndarray,
    pulses: tuple[np.ndarray, np.ndarray, np.ndarray],
    exclusions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> EventBatch:
    event, dom, time = (np.asarray(x) for x in pulses)
    num_events = len(windows)
    charge = np.ones(len(time))
    dom_charge = np.zeros((num_events, num_doms))
    np.add.at(dom_charge, (event, dom), charge)
    if exclusions is None:
        exclusions = (np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)))
    w_event, w_dom, w_ns = exclusions
    return EventBatch(
        parameters=np.zeros((num_events, 0)),
        pulse_charge_pe=charge,
        pulse_time_ns=np.asarray(time, dtype=float),
        pulse_event=event,
        pulse_dom=dom,
        dom_charge=dom_charge,
        dom_valid=np.ones((num_events, num_doms), dtype=bool),
        time_window_ns=np.asarray(windows, dtype=float),
        window_exclusions_ns=np.asarray(w_ns, dtype=float).reshape(-1, 2),
        window_event=np.asarray(w_event),
        window_dom=np.asarray(w_dom),
        event_id=np.zeros((num_events, 4), dtype=np.int64),
        weights=np.ones(num_events),
    )


def random_batch(detector: DetectorTable, num_events: int, seed: int) -> EventBatch:
    rng = np.random.default_rng(seed)
    windows = np.array([[0.0, 20000.0], [9000.0, 13000.0]])[np.arange(num_events) % 2]
    n = 30
    event = np.repeat(np.arange(num_events), n)
    dom = rng.integers(0, detector.num_doms, n * num_events)
    time = rng.uniform(windows[event, 0], windows[event, 1])
    hit = dom[::n][:num_events]
    exclusions = (
        np.concatenate([np.arange(num_events)] * 2),
        np.concatenate([hit, hit]),
        np.concatenate(
            [
                np.column_stack([windows[:, 0] - 100, windows[:, 0] + 1500]),
                np.column_stack([windows[:, 0] + 2000, windows[:, 0] + 2100]),
            ]
        ),
    )
    return batch_from(detector.num_doms, windows, (event, dom, time), exclusions)


def cascade_parameters(detector: DetectorTable, num: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = detector.positions.mean(axis=0)
    return np.column_stack(
        [
            centre[0] + rng.uniform(-50, 50, num),
            centre[1] + rng.uniform(-50, 50, num),
            rng.uniform(-300, 300, num),
            np.arccos(rng.uniform(-1, 1, num)),
            rng.uniform(0, 2 * np.pi, num),
            10 ** rng.uniform(3, 5, num),
            rng.uniform(9800, 10200, num),
        ]
    )


# ---------------------------------------------------------------------- noise
def test_noise_closed_form(detector):
    noise = NoiseSource({"initial_scale": 1.3}, detector)
    windows = np.array([[0.0, 20000.0], [1000.0, 6000.0]])
    pulses = (np.array([0, 0, 1]), np.array([2, 5, 7]), np.array([50.0, 19999.0, 3500.0]))
    exclusions = (
        np.array([0, 1, 1]),
        np.array([2, 7, 7]),
        np.array([[-100.0, 100.0], [2000.0, 2500.0], [5800.0, 7000.0]]),
    )
    batch = batch_from(detector.num_doms, windows, pulses, exclusions)
    r = noise(np.zeros((2, 0)), batch)
    length = np.array([20000.0, 5000.0])
    expected = 1.3 * detector.noise_rate_hz[None, :] * 1e-9 * length[:, None]
    np.testing.assert_allclose(r["dom_charges"], expected, rtol=1e-12)
    np.testing.assert_allclose(r["dom_charges_variance"], expected, rtol=1e-12)
    np.testing.assert_allclose(r["pulse_pdf"], [1 / 20000, 1 / 20000, 1 / 5000], rtol=1e-12)
    np.testing.assert_allclose(r["pulse_cdf"], [50 / 20000, 19999 / 20000, 2500 / 5000])
    excl = r["dom_cdf_exclusion"].numpy()
    assert excl[0, 2] == pytest.approx(100 / 20000)
    assert excl[1, 7] == pytest.approx((500 + 200) / 5000)
    assert np.count_nonzero(excl) == 2
    assert r["dom_charges"].dtype == tf.float64
    frozen = NoiseSource({"trainable": False}, detector)
    assert not frozen.trainable_variables and len(noise.trainable_variables) == 1
    with pytest.raises(SourceConfigError, match=r"noise\.config\.initial_scale: must be > 0"):
        NoiseSource({"initial_scale": 0.0}, detector)


# ---------------------------------------------------------------------- cascade: numpy reference
def numpy_cascade(source: CascadeSource, params: np.ndarray, batch: EventBatch) -> dict:
    """Independent numpy forward pass of CascadeSource (features, MLP, charges, mixture)."""
    cfg = source.config
    k = cfg["num_time_components"]
    pos = source.detector.positions
    x, y, z, zen, azi, energy, t0 = params.T
    d = np.stack([-np.sin(zen) * np.cos(azi), -np.sin(zen) * np.sin(azi), -np.cos(zen)], 1)
    shift = np.maximum(cfg["emission_offset_m"] + cfg["emission_slope_m"] * np.log10(energy), 0)
    vertex = np.stack([x, y, z], 1)
    emission = vertex + shift[:, None] * d
    dv = pos[None] - vertex[:, None]
    de = pos[None] - emission[:, None]
    r_v = np.sqrt((dv**2).sum(-1) + 1e-2)
    r_e = np.sqrt((de**2).sum(-1) + 1e-2)
    ones = np.ones_like(r_e)
    feats = np.stack(
        [
            np.log1p(r_e / 10) / 3,
            r_e / 300,
            np.log1p(r_v / 10) / 3,
            (d[:, None] * de).sum(-1) / r_e,
            (d[:, None] * dv).sum(-1) / r_v,
            -dv[..., 2] / r_v,
            -de[..., 2] / r_e,
            d[:, None, 2] * ones,
            pos[None, :, 2] / 500 * ones,
            (np.log10(energy)[:, None] - 4) / 1.5 * ones,
        ],
        -1,
    )
    h = feats
    weights = {name: v.numpy() for name, v in source.own_variables().items()}
    layers = len(weights) // 2
    for i in range(layers):
        h = h @ weights[f"dense_{i}/kernel"] + weights[f"dense_{i}/bias"]
        if i < layers - 1:
            h = np.where(h > 0, h, np.expm1(np.minimum(h, 0)))  # elu
    softplus = np.logaddexp(0, h)
    total = (
        np.exp(30 * np.tanh(h[..., 0] / 30))
        * cfg["charge_scale_pe"]
        * energy[:, None]
        * source.detector.efficiency[None]
        * np.exp(-r_e / cfg["attenuation_m"])
        / (r_e**2 + cfg["distance_offset_m"] ** 2)
    )
    alpha = softplus[..., 1] + 1e-8
    tscale = (cfg["time_scale_ns"] + cfg["time_scale_per_m_ns"] * r_e)[..., None]
    loc = t0[:, None, None] + (r_e / cfg["c_ice_m_per_ns"])[..., None]
    loc = loc + softplus[..., 2 : 2 + k] * tscale
    scale = cfg["min_time_scale_ns"] + np.exp(30 * np.tanh(h[..., 2 + k : 2 + 2 * k] / 30)) * tscale
    asym = np.exp(5 * np.tanh(h[..., 2 + 2 * k : 2 + 3 * k] / 5))
    logits = h[..., 2 + 3 * k :]
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)

    def pdf(b, dd, t):
        zl = (t - loc[b, dd]) / scale[b, dd]
        zr = zl / asym[b, dd]
        z = np.where(t < loc[b, dd], zl, zr)
        norm = 2 / (np.sqrt(2 * np.pi) * scale[b, dd] * (1 + asym[b, dd]))
        return (w[b, dd] * norm * np.exp(-0.5 * z**2)).sum(-1)

    def cdf(b, dd, t):
        zl = (t - loc[b, dd]) / scale[b, dd]
        r = asym[b, dd]
        below = 2 / (1 + r) * ndtr(zl)
        above = 1 - 2 * r / (1 + r) * ndtr(-zl / r)
        return (w[b, dd] * np.where(t < loc[b, dd], below, above)).sum(-1)

    win = batch.time_window_ns
    bb = np.arange(len(params))[:, None]
    mass = cdf(bb, np.arange(pos.shape[0])[None], win[:, 1:2, None]) - cdf(
        bb, np.arange(pos.shape[0])[None], win[:, 0:1, None]
    )
    charge = total * mass
    pe, pd, pt = batch.pulse_event, batch.pulse_dom, batch.pulse_time_ns
    pulse_pdf = pdf(pe, pd, pt[:, None]) / mass[pe, pd]
    pulse_cdf = (cdf(pe, pd, pt[:, None]) - cdf(pe, pd, win[pe, 0:1])) / mass[pe, pd]
    excl = np.zeros_like(charge)
    for (lo, hi), we, wd in zip(
        batch.window_exclusions_ns, batch.window_event, batch.window_dom, strict=True
    ):
        lo, hi = np.clip([lo, hi], *win[we])
        excl[we, wd] += (cdf(we, wd, hi) - cdf(we, wd, lo)) / mass[we, wd]
    return {
        "dom_charges": charge,
        "dom_charges_variance": charge + alpha * charge**2,
        "pulse_pdf": pulse_pdf,
        "pulse_cdf": pulse_cdf,
        "dom_cdf_exclusion": excl,
    }


def test_cascade_matches_numpy_reference(detector):
    source = CascadeSource({**F64, "num_hidden_layers": 2, "seed": 3}, detector)
    batch = random_batch(detector, 2, seed=1)
    params = cascade_parameters(detector, 2, seed=2)
    got = source(params, batch)
    want = numpy_cascade(source, params, batch)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-300, err_msg=key)
        assert got[key].dtype == tf.float64
    assert np.count_nonzero(want["dom_cdf_exclusion"]) >= 2
    # the analytic distance scaling dominates: charges fall steeply with distance
    assert got["dom_charges"].numpy().max() > 1.0


def test_cascade_density_integrates_to_one_over_window_minus_exclusions(detector):
    """Numeric integration of pulse_pdf on a grid of fake pulses (float32, default config)."""
    source = CascadeSource({}, detector)
    params = cascade_parameters(detector, 2, seed=4)
    params[1, 6] = 13800.0  # second event: density truncated by the window end
    windows = np.array([[9000.0, 14000.0], [9000.0, 14000.0]])
    grid = np.arange(9000.0, 14000.0 + 0.25, 0.25)
    doms = np.argsort(np.linalg.norm(detector.positions - params[0, :3], axis=1))[:3]
    event = np.repeat([0, 0, 0, 1, 1, 1], len(grid))
    dom = np.tile(np.repeat(doms, len(grid)), 2)
    time = np.tile(grid, 6)
    exclusions = (
        np.array([0, 0, 1]),
        doms[[0, 0, 1]],
        np.array([[9500.0, 9900.0], [10100.0, 10300.0], [13900.0, 14500.0]]),
    )
    batch = batch_from(detector.num_doms, windows, (event, dom, time), exclusions)
    r = source(params, batch)
    pdf = r["pulse_pdf"].numpy().reshape(6, len(grid))
    cdf = r["pulse_cdf"].numpy().reshape(6, len(grid))
    total = np.trapezoid(pdf, grid, axis=1)
    np.testing.assert_allclose(total, 1.0, rtol=2e-3)
    running = np.concatenate(
        [np.zeros((6, 1)), np.cumsum(0.125 * (pdf[:, 1:] + pdf[:, :-1]), 1)], 1
    )
    np.testing.assert_allclose(cdf, running, atol=2e-3)
    # mass in the exclusion windows vs integration on the grid
    excl = r["dom_cdf_exclusion"].numpy()
    masks = {
        (0, 0): ((grid >= 9500) & (grid <= 9900)) | ((grid >= 10100) & (grid <= 10300)),
        (1, 1): grid >= 13900,
    }
    for (b, j), mask in masks.items():
        row = 3 * b + j
        inside = np.trapezoid(np.where(mask, pdf[row], 0.0), grid)
        assert excl[b, doms[j]] == pytest.approx(inside, abs=3e-3)
        assert 1.0 - excl[b, doms[j]] == pytest.approx(
            np.trapezoid(np.where(mask, 0.0, pdf[row]), grid), abs=3e-3
        )
    assert excl[1, doms[1]] > 0.05  # truncated density: the excluded tail matters
    # outside the readout window the density is zero
    outside = batch_from(detector.num_doms, windows[:1], ([0, 0], doms[:2], [8000.0, 15000.0]))
    np.testing.assert_array_equal(source(params[:1], outside)["pulse_pdf"], [0.0, 0.0])


def test_cascade_gradients_match_finite_differences(detector):
    source = CascadeSource({**F64, "seed": 5}, detector)
    batch = batch_to_tensors(random_batch(detector, 1, seed=6), tf.float64)
    params = cascade_parameters(detector, 1, seed=7)

    def objective():
        r = source(p, batch)
        mu = r["dom_charges"]
        return (
            tf.reduce_sum(tf.math.log(r["pulse_pdf"] + 1e-300))
            + tf.reduce_sum(tf.math.log(mu) * 0.01 - mu)
            - tf.reduce_sum(r["dom_charges_variance"]) * 1e-3
            + tf.reduce_sum(r["pulse_cdf"])
            + tf.reduce_sum(r["dom_cdf_exclusion"])
        )

    p = tf.Variable(params)
    kernel = source.own_variables()["dense_1/kernel"]
    bias = source.own_variables()["dense_2/bias"]
    with tf.GradientTape() as tape:
        value = objective()
    g_param, g_kernel, g_bias = tape.gradient(value, [p, kernel, bias])
    assert np.isfinite(value.numpy())

    def fd(var, index, step):
        old = var.numpy()
        up, down = old.copy(), old.copy()
        up[index] += step
        down[index] -= step
        var.assign(up)
        f_up = objective().numpy()
        var.assign(down)
        f_down = objective().numpy()
        var.assign(old)
        return (f_up - f_down) / (2 * step)

    for i in range(7):
        step = 1e-6 * max(1.0, abs(params[0, i]))
        assert g_param.numpy()[0, i] == pytest.approx(fd(p, (0, i), step), rel=1e-5, abs=1e-6)
    for index in ((0, 0), (3, 5)):
        assert g_kernel.numpy()[index] == pytest.approx(fd(kernel, index, 1e-6), rel=1e-5, abs=1e-6)
    for index in (0, 1, 3, 9, 12):
        assert g_bias.numpy()[index] == pytest.approx(fd(bias, index, 1e-6), rel=1e-5, abs=1e-6)


def test_cascade_traces_once_for_any_batch(detector):
    source = CascadeSource({}, detector)
    signature = tensor_signature(detector.num_doms, 7)
    keys = sorted(signature)

    @tf.function(input_signature=[{k: signature[k] for k in keys}])
    def run(tensors):
        r = source(tensors["parameters"], tensors)
        return r["dom_charges"], r["pulse_pdf"]

    for num_events, seed in ((1, 1), (3, 2)):
        batch = random_batch(detector, num_events, seed)
        batch = EventBatch(
            **{**batch.as_dict(), "parameters": cascade_parameters(detector, num_events, seed)}
        )
        tensors = batch_to_tensors(batch)
        charges, pdf = run({k: tensors[k] for k in keys})
        eager = source(tensors["parameters"], tensors)
        np.testing.assert_allclose(charges, eager["dom_charges"], rtol=1e-5)
        np.testing.assert_allclose(pdf, eager["pulse_pdf"], rtol=1e-4)
        assert charges.dtype == tf.float64
    assert run.experimental_get_tracing_count() == 1


def test_cascade_works_on_any_detector_and_rejects_bad_config(detector, small_detector):
    params = cascade_parameters(detector, 1, seed=8)
    a = CascadeSource({"seed": 2}, detector)
    b = CascadeSource({"seed": 2}, small_detector)
    empty = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    ra = a(params, batch_from(detector.num_doms, [[0.0, 2e4]], empty))
    rb = b(params, batch_from(small_detector.num_doms, [[0.0, 2e4]], empty))
    # the same DOM in both tables gets the same prediction
    dom_a = detector.index_of(small_detector.string, small_detector.om)
    shared = dom_a >= 0
    np.testing.assert_allclose(
        ra["dom_charges"].numpy()[0, dom_a[shared]], rb["dom_charges"].numpy()[0, shared], rtol=1e-5
    )
    with pytest.raises(SourceConfigError, match=r"cascade\.config\.num_unit"):
        CascadeSource({"num_unit": 3}, detector)
    with pytest.raises(SourceConfigError, match=r"cascade\.config\.activation"):
        CascadeSource({"activation": "sigmoidish"}, detector)
    with pytest.raises(SourceConfigError, match=r"cascade\.config\.num_units: expected an integer"):
        CascadeSource({"num_units": 3.5}, detector)
    with pytest.raises(SourceConfigError, match=r"shape \[B, 7\]"):
        a(params[:, :6], batch_from(detector.num_doms, [[0.0, 2e4]], empty))


# ---------------------------------------------------------------------- oracle
def oracle_batch(detector: DetectorTable, params: np.ndarray, seed: int) -> EventBatch:
    """Pulses near the geometric arrival times (where the Pandel density matters) and random
    ones, plus exclusion windows on hit DOMs."""
    from egenerator.sim.light import emission_point
    from egenerator.sim.physics import PhysicsConfig

    rng = np.random.default_rng(seed)
    c_ice = PhysicsConfig().c_ice_m_per_ns
    windows = np.array([[0.0, 20000.0], [9500.0, 11000.0]])[: len(params)]
    events, doms, times = [], [], []
    for b, p in enumerate(params):
        r = np.linalg.norm(detector.positions - emission_point(p[None])[0], axis=1)
        near = np.argsort(r)[:20]
        arrival = p[6] + r[near] / c_ice
        events += [np.full(40, b)]
        doms += [near, rng.integers(0, detector.num_doms, 20)]
        times += [arrival + rng.uniform(-10, 1500, 20), rng.uniform(*windows[b], 20)]
    event, dom, time = (np.concatenate(x) for x in (events, doms, times))
    time = np.clip(time, windows[event, 0], windows[event, 1])
    hit = dom[event == 0][:2]
    exclusions = (
        np.array([0, 0, 1]),
        np.array([hit[0], hit[1], dom[event == len(params) - 1][0]]),
        np.array([[9000.0, 10200.0], [10300.0, 10400.0], [10900.0, 12000.0]]),
    )
    if len(params) == 1:
        exclusions = tuple(x[:2] for x in exclusions)
    return batch_from(detector.num_doms, windows, (event, dom, time), exclusions)


def test_oracle_matches_numpy_oracle(detector):
    from egenerator.model.source.oracle import OracleSource, build_oracle
    from egenerator.sim import oracle as numpy_oracle

    model = build_oracle(detector)
    assert model.parameter_names == tuple(
        f"cascade_{n}" for n in ("x", "y", "z", "zenith", "azimuth", "energy", "time")
    )
    assert not model.trainable_variables
    params = cascade_parameters(detector, 2, seed=9)
    params[1, 6] = 10200.0  # second window [9500, 11000] truncates the Pandel tail
    batch = oracle_batch(detector, params, seed=10)
    r = model(params, batch)
    window = batch.time_window_ns
    want_charge = numpy_oracle.expected_charge(params, detector, window_ns=window)
    np.testing.assert_allclose(r["dom_charges"], want_charge, rtol=1e-5)
    args = (batch.pulse_event, batch.pulse_dom, params, detector)
    want_pdf = numpy_oracle.time_pdf(batch.pulse_time_ns, *args, window_ns=window)
    want_cdf = numpy_oracle.time_cdf(batch.pulse_time_ns, *args, window_ns=window)
    np.testing.assert_allclose(r["pulse_pdf"], want_pdf, rtol=1e-5)
    np.testing.assert_allclose(r["pulse_cdf"], want_cdf, rtol=1e-5, atol=1e-12)
    assert want_pdf.max() > 100 * want_pdf.min()  # the signal part is exercised
    # exclusion mass = difference of the numpy mixture CDF at the (clipped) window edges
    excl = r["dom_cdf_exclusion"].numpy()
    lo = np.clip(batch.window_exclusions_ns[:, 0], *window[batch.window_event].T)
    hi = np.clip(batch.window_exclusions_ns[:, 1], *window[batch.window_event].T)
    wargs = (batch.window_event, batch.window_dom, params, detector)
    per_window = numpy_oracle.time_cdf(hi, *wargs, window_ns=window) - numpy_oracle.time_cdf(
        lo, *wargs, window_ns=window
    )
    want_excl = np.zeros_like(excl)
    np.add.at(want_excl, (batch.window_event, batch.window_dom), per_window)
    np.testing.assert_allclose(excl, want_excl, rtol=1e-5, atol=1e-12)
    assert np.count_nonzero(want_excl > 1e-3) >= 2
    # the cascade part alone: expected charge minus noise
    alone = OracleSource({}, detector)(params, batch)
    noise = detector.noise_rate_hz * 1e-9 * (window[:, 1:] - window[:, :1])
    np.testing.assert_allclose(alone["dom_charges"] + noise, want_charge, rtol=1e-9)


def test_oracle_gradients_match_finite_differences(detector):
    from egenerator.model.source.oracle import build_oracle

    model = build_oracle(detector)
    params = cascade_parameters(detector, 1, seed=11)
    batch = batch_to_tensors(oracle_batch(detector, params, seed=12), tf.float64)

    def objective(q):  # eager: tracing the oracle and its gradient costs ~15 s more
        r = model(q, batch)
        mu = r["dom_charges"]
        return (
            tf.reduce_sum(tf.math.log(r["pulse_pdf"]))
            + tf.reduce_sum(batch["dom_charge"] * tf.math.log(mu) - mu)
            + tf.reduce_sum(r["dom_cdf_exclusion"])
        )

    p = tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch(p)
        value = objective(p)
    grad = tape.gradient(value, p).numpy()[0]
    assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad))
    for i in range(7):
        step = 1e-6 * max(1.0, abs(params[0, i]))
        up, down = params.copy(), params.copy()
        up[0, i] += step
        down[0, i] -= step
        fd = (objective(up).numpy() - objective(down).numpy()) / (2 * step)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-6), model.parameter_names[i]


def test_oracle_config_round_trip(tmp_path, detector):
    from egenerator.model.component_io import load_component, save_component
    from egenerator.model.source.oracle import OracleSource
    from egenerator.sim.physics import PhysicsConfig

    source = OracleSource({"physics": {"jitter_ns": 3.0}}, detector)
    assert source.physics == PhysicsConfig(jitter_ns=3.0)
    assert source.config["physics"]["readout_window_ns"] == [0.0, 20000.0]
    loaded = load_component(save_component(source, tmp_path / "oracle"), detector)
    assert loaded.physics == source.physics
    with pytest.raises(SourceConfigError, match=r"physics: unknown PhysicsConfig field"):
        OracleSource({"physics": {"jitter": 3.0}}, detector)
    with pytest.raises(SourceConfigError, match="jitter_ns"):
        OracleSource({"physics": {"jitter_ns": -1.0}}, detector)


def test_cascade_packed_mixture_equals_distribution_classes(detector):
    """The hot-path mixture (packed tensors) against egenerator.model.distributions."""
    from egenerator.model.source.cascade import (
        _pack_mixture,
        _packed_integral,
        _packed_log_pdf,
    )

    source = CascadeSource({**F64, "seed": 6}, detector)
    dom = source.dom_outputs(tf.constant(cascade_parameters(detector, 2, seed=13)[:, None]))
    packed = {"packed": _pack_mixture(dom)}
    mixture = source.time_mixture(dom)
    rng = np.random.default_rng(14)
    for _ in range(3):
        t = tf.constant(rng.uniform(-500, 3000, (2, 1, detector.num_doms)))
        lo = tf.constant(rng.uniform(-2000, 1000, (2, 1, detector.num_doms)))
        hi = lo + tf.constant(rng.uniform(0, 4000, (2, 1, detector.num_doms)))
        np.testing.assert_allclose(_packed_log_pdf(packed, t), mixture.log_prob(t), rtol=1e-10)
        np.testing.assert_allclose(
            _packed_integral(packed, lo, hi), mixture.integral(lo, hi), rtol=1e-9, atol=1e-15
        )
