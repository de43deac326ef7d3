"""TensorFlow twin of the simulator physics: equals numpy, gradients equal finite differences."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from egenerator.model.source import oracle_physics_tf as otf  # noqa: E402
from egenerator.sim import light, timing  # noqa: E402
from egenerator.sim.physics import PhysicsConfig  # noqa: E402

CONFIG = PhysicsConfig()
DELAYS = np.concatenate([np.linspace(-40, 40, 81), np.geomspace(40.5, 30000, 60), [-2e4, 1e5]])
DISTANCES = np.array([0.0, 1e-3, 0.5, 3.0, 10.0, 33.3, 100.0, 300.0, 700.0, 1000.0, 1600.0])


def _grid():
    s, r = np.meshgrid(DELAYS, DISTANCES)
    return s, r


def _random_parameters(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(-150, 150, (n, 3)),
            np.arccos(rng.uniform(-1, 1, n)),
            rng.uniform(0, 2 * np.pi, n),
            10 ** rng.uniform(3, 6, n),
            rng.uniform(9000, 10500, n),
        ]
    )


def test_delay_functions_equal_numpy():
    s, r = _grid()
    log_pdf = otf.delay_log_pdf_tf(tf.constant(s), tf.constant(r), CONFIG).numpy()
    np.testing.assert_allclose(log_pdf, timing.delay_log_pdf(s, r, CONFIG), rtol=1e-12)
    pdf = otf.delay_pdf_tf(s, r, CONFIG).numpy()
    ref = timing.delay_pdf(s, r, CONFIG)
    visible = ref > 1e-250
    np.testing.assert_allclose(pdf[visible], ref[visible], rtol=1e-9)
    cdf = otf.delay_cdf_tf(s, r, CONFIG).numpy()
    ref = timing.delay_cdf(s, r, CONFIG)
    visible = ref > 1e-250
    np.testing.assert_allclose(cdf[visible], ref[visible], rtol=1e-9)
    np.testing.assert_allclose(cdf, ref, atol=1e-300)
    # broadcasting and shapes of [B, S, D] tensors
    out = otf.delay_cdf_tf(tf.zeros([2, 1, 3], tf.float64), np.full([1, 4, 1], 50.0), CONFIG)
    assert out.shape == (2, 4, 3)


def test_log_mills_ratio_against_scipy():
    z = np.concatenate([np.linspace(-60, 10, 141), [-1e4, -25.0, -20.0, -19.999]])
    np.testing.assert_allclose(
        otf.log_mills_ratio_tf(tf.constant(z)).numpy(), timing.log_mills_ratio(z), rtol=1e-13
    )


def _finite_difference(f, x: np.ndarray, step: np.ndarray) -> np.ndarray:
    return (f(x + step) - f(x - step)) / (2 * step)


@pytest.mark.parametrize("distance", [0.5, 3.0, 33.3, 150.0, 1000.0])
def test_delay_gradients_match_finite_differences(distance):
    delays = np.concatenate([np.linspace(-15, 60, 76), np.geomspace(61, 9000, 40)])
    ref_pdf = timing.delay_pdf(delays, distance, CONFIG)
    relevant = ref_pdf > 1e-6 * ref_pdf.max()
    s = tf.Variable(delays)
    r = tf.Variable(np.full(delays.shape, distance))
    with tf.GradientTape(persistent=True) as tape:
        log_pdf = otf.delay_log_pdf_tf(s, r, CONFIG)
        cdf = otf.delay_cdf_tf(s, r, CONFIG)
    d_log_ds, d_log_dr = tape.gradient(log_pdf, [s, r])
    d_cdf_ds, d_cdf_dr = tape.gradient(cdf, [s, r])

    def log_pdf_of_delay(x):
        return otf.delay_log_pdf_tf(x, distance, CONFIG).numpy()

    def log_pdf_of_distance(x):
        return otf.delay_log_pdf_tf(delays, x, CONFIG).numpy()

    def cdf_of_distance(x):
        return otf.delay_cdf_tf(delays, x, CONFIG).numpy()

    fd = _finite_difference(log_pdf_of_delay, delays, np.full(delays.shape, 1e-4))
    scale = np.abs(fd).max()
    np.testing.assert_allclose(
        d_log_ds.numpy()[relevant], fd[relevant], rtol=1e-5, atol=1e-7 * scale
    )
    r_values = np.full(delays.shape, distance)
    fd = _finite_difference(log_pdf_of_distance, r_values, 1e-5 * r_values)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(
        d_log_dr.numpy()[relevant], fd[relevant], rtol=1e-5, atol=1e-7 * scale
    )
    fd = _finite_difference(cdf_of_distance, r_values, 1e-5 * r_values)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(
        d_cdf_dr.numpy()[relevant], fd[relevant], rtol=1e-5, atol=1e-6 * scale
    )
    # d CDF / d delay is the density
    np.testing.assert_allclose(
        d_cdf_ds.numpy()[relevant], ref_pdf[relevant], rtol=1e-6, atol=1e-9 * ref_pdf.max()
    )


def test_delay_gradients_finite_everywhere():
    s, r = _grid()
    s_var, r_var = tf.Variable(s), tf.Variable(r)
    with tf.GradientTape(persistent=True) as tape:
        log_pdf = otf.delay_log_pdf_tf(s_var, r_var, CONFIG)
        cdf = otf.delay_cdf_tf(s_var, r_var, CONFIG)
        pdf = otf.delay_pdf_tf(s_var, r_var, CONFIG)
    for value in (log_pdf, cdf, pdf):
        assert np.all(np.isfinite(value.numpy()))
        for grad in tape.gradient(value, [s_var, r_var]):
            assert np.all(np.isfinite(grad.numpy()))


def test_expected_photoelectrons_equal_numpy(small_detector):
    params = _random_parameters(6, 1)
    # a DOM exactly at the emission point and one exactly on the Cherenkov cone (the profile
    # has a cusp there: |cos psi - 1/n|^0.3 turns round-off into ~1e-4 relative differences)
    positions = small_detector.positions.copy()
    origin = light.emission_point(params[:1], CONFIG)[0]
    positions[0] = otf.emission_point_tf(params[:1], CONFIG).numpy()[0]
    d = light.direction(params[0, 3], params[0, 4])
    perp = np.cross(d, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)
    cos_c = CONFIG.cherenkov_cos_angle
    positions[1] = origin + 30.0 * (cos_c * d + np.sqrt(1 - cos_c**2) * perp)
    ref = light.photoelectrons_at(
        params[:, 5, None], *light.dom_geometry(params, positions, CONFIG),
        small_detector.efficiency, CONFIG,
    )  # fmt: skip
    p = tf.Variable(params)
    with tf.GradientTape() as tape:
        mu = otf.expected_photoelectrons_tf(p, positions, small_detector.efficiency, CONFIG)
        total = tf.reduce_sum(mu)
    mu = mu.numpy()
    assert np.all(np.isfinite(tape.gradient(total, p).numpy()))
    assert np.all(np.isfinite(mu))
    assert mu[0, 1] == pytest.approx(ref[0, 1], rel=1e-3)
    assert mu[0, 1] > 0.5 * mu[0, 2:].max()  # on the cone: the brightest DOM at 30 m
    np.testing.assert_allclose(mu[0, 2:], ref[0, 2:], rtol=1e-12)
    np.testing.assert_allclose(mu[1:], ref[1:], rtol=1e-12)


def test_expected_photoelectrons_gradient(small_detector):
    params = _random_parameters(3, 2)
    positions = small_detector.positions
    efficiency = small_detector.efficiency
    weights = np.random.default_rng(3).uniform(0.5, 1.5, (3, small_detector.num_doms))

    def objective(p):
        mu = otf.expected_photoelectrons_tf(p, positions, efficiency, CONFIG)
        return tf.reduce_sum(weights * tf.math.log(mu))

    p = tf.Variable(params)
    with tf.GradientTape() as tape:
        value = objective(p)
    grad = tape.gradient(value, p).numpy()
    steps = np.array([1e-4, 1e-4, 1e-4, 1e-6, 1e-6, 0.0, 1e-4])
    for b in range(3):
        for j in range(7):
            step = steps[j] if j != 5 else 1e-6 * params[b, 5]
            up, down = params.copy(), params.copy()
            up[b, j] += step
            down[b, j] -= step
            fd = (objective(up).numpy() - objective(down).numpy()) / (2 * step)
            assert grad[b, j] == pytest.approx(fd, rel=1e-5, abs=1e-6), (b, j)


def test_inside_tf_function():
    spec = tf.TensorSpec([None], tf.float64)

    @tf.function(input_signature=[spec, spec])
    def both(s, r):
        return otf.delay_log_pdf_tf(s, r, CONFIG), otf.delay_cdf_tf(s, r, CONFIG)

    s = np.array([-5.0, 3.0, 200.0])
    r = np.array([10.0, 40.0, 300.0])
    log_pdf, cdf = both(tf.constant(s), tf.constant(r))
    np.testing.assert_allclose(log_pdf.numpy(), timing.delay_log_pdf(s, r, CONFIG), rtol=1e-12)
    np.testing.assert_allclose(cdf.numpy(), timing.delay_cdf(s, r, CONFIG), rtol=1e-10)
