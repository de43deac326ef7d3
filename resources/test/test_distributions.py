"""Distributions (egenerator.model.distributions) against scipy.stats, numeric integration and
finite differences, in float32 and float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf
from egenerator.model.distributions import (
    RATE_FLOOR,
    AsymmetricGaussian,
    DistributionError,
    Gamma,
    Mixture,
    NegativeBinomial,
    Poisson,
)
from scipy import integrate, special, stats

DTYPES = [np.float32, np.float64]
# relative tolerances of log-densities / probabilities per dtype
RTOL = {np.float32: 2e-5, np.float64: 1e-10}


def _ag_reference_logpdf(x, loc, scale, r):
    """Asymmetric Gaussian from two scipy normal halves."""
    x = np.asarray(x, dtype=np.float64)
    left = np.log(2.0 / (1.0 + r)) + stats.norm.logpdf(x, loc, scale)
    right = np.log(2.0 * r / (1.0 + r)) + stats.norm.logpdf(x, loc, r * scale)
    return np.where(x < loc, left, right)


def _ag_reference_cdf(x, loc, scale, r):
    x = np.asarray(x, dtype=np.float64)
    left = 2.0 / (1.0 + r) * stats.norm.cdf(x, loc, scale)
    right = 1.0 - 2.0 * r / (1.0 + r) * stats.norm.sf(x, loc, r * scale)
    return np.where(x < loc, left, right)


# ---------------------------------------------------------------------- asymmetric Gaussian
@pytest.mark.parametrize("dtype", DTYPES)
def test_asymmetric_gaussian_matches_scipy_halves(dtype):
    loc = np.array([0.0, 10.0, -3.0], dtype=dtype)
    scale = np.array([1.0, 2.5, 0.3], dtype=dtype)
    r = np.array([1.0, 3.0, 0.2], dtype=dtype)
    dist = AsymmetricGaussian(loc, scale, r)
    assert dist.dtype == tf.as_dtype(dtype)
    x = np.linspace(-8.0, 25.0, 67).astype(dtype)[:, None]
    ref_lp = _ag_reference_logpdf(x, loc, scale, r)
    np.testing.assert_allclose(dist.log_prob(x).numpy(), ref_lp, rtol=RTOL[dtype], atol=1e-5)
    np.testing.assert_allclose(
        dist.prob(x).numpy(), np.exp(ref_lp), rtol=RTOL[dtype] * 10, atol=1e-7
    )
    ref_cdf = _ag_reference_cdf(x, loc, scale, r)
    np.testing.assert_allclose(dist.cdf(x).numpy(), ref_cdf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.survival(x).numpy(), 1.0 - ref_cdf, rtol=1e-4, atol=1e-6)
    # continuity at the mode
    eps = 1e-4 if dtype == np.float32 else 1e-9
    below = dist.log_prob(loc - eps * scale).numpy()
    above = dist.log_prob(loc + eps * scale).numpy()
    np.testing.assert_allclose(below, above, atol=1e-5)


@pytest.mark.parametrize("loc,scale,r", [(0.0, 1.0, 1.0), (5.0, 2.0, 4.0), (-2.0, 0.5, 0.1)])
def test_asymmetric_gaussian_normalised_and_cdf_is_integral(loc, scale, r):
    dist = AsymmetricGaussian(np.float64(loc), np.float64(scale), np.float64(r))

    def pdf(t):
        return float(dist.prob(np.float64(t)).numpy())

    total, _ = integrate.quad(pdf, -np.inf, loc, epsabs=1e-12)
    total += integrate.quad(pdf, loc, np.inf, epsabs=1e-12)[0]
    assert total == pytest.approx(1.0, abs=1e-9)
    for x in [loc - 2 * scale, loc + 0.3 * scale, loc + 3 * r * scale]:
        pieces = [(-np.inf, min(x, loc))] + ([(loc, x)] if x > loc else [])
        value = sum(integrate.quad(pdf, a, b, epsabs=1e-12)[0] for a, b in pieces)
        assert float(dist.cdf(np.float64(x))) == pytest.approx(value, abs=1e-9)
    a, b = loc - scale, loc + 2 * r * scale
    mass = integrate.quad(pdf, a, loc)[0] + integrate.quad(pdf, loc, b)[0]
    assert float(dist.integral(np.float64(a), np.float64(b))) == pytest.approx(mass, abs=1e-9)
    assert float(dist.integral(np.float64(b), np.float64(a))) == 0.0
    # mean and variance by integration
    mean = integrate.quad(lambda t: t * pdf(t), -np.inf, loc)[0]
    mean += integrate.quad(lambda t: t * pdf(t), loc, np.inf)[0]
    second = integrate.quad(lambda t: (t - mean) ** 2 * pdf(t), -np.inf, loc)[0]
    second += integrate.quad(lambda t: (t - mean) ** 2 * pdf(t), loc, np.inf)[0]
    assert float(dist.mean()) == pytest.approx(mean, abs=1e-8)
    assert float(dist.variance()) == pytest.approx(second, rel=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_asymmetric_gaussian_tails_in_log_space(dtype):
    dist = AsymmetricGaussian(dtype(1.0), dtype(2.0), dtype(3.0))
    x = np.array([-1e4, -300.0, -60.0, 0.0, 1.0, 60.0, 300.0, 1e4], dtype=dtype)
    # scipy reference (both branches of np.where are evaluated; the unused one may warn)
    with np.errstate(invalid="ignore"):
        ref_logcdf = np.where(
            x < 1.0,
            np.log(2.0 / 4.0) + special.log_ndtr((x - 1.0) / 2.0),
            np.log1p(-1.5 * special.ndtr(-(x - 1.0) / 6.0)),
        )
        ref_logsf = np.where(
            x >= 1.0,
            np.log(1.5) + special.log_ndtr(-(x - 1.0) / 6.0),
            np.log1p(-0.5 * special.ndtr((x - 1.0) / 2.0)),
        )
    for values in (dist.log_prob(x), dist.log_cdf(x), dist.log_survival(x)):
        assert np.all(np.isfinite(values.numpy()[1:-1]))
        assert not np.any(np.isnan(values.numpy()))
    np.testing.assert_allclose(dist.log_cdf(x).numpy(), ref_logcdf, rtol=RTOL[dtype], atol=1e-6)
    np.testing.assert_allclose(dist.log_survival(x).numpy(), ref_logsf, rtol=RTOL[dtype], atol=1e-6)
    cdf = dist.cdf(x).numpy()
    assert np.all((cdf >= 0.0) & (cdf <= 1.0))


# ---------------------------------------------------------------------- gamma
@pytest.mark.parametrize("dtype", DTYPES)
def test_gamma_matches_scipy(dtype):
    a = np.array([0.5, 1.0, 2.0, 30.0], dtype=dtype)
    b = np.array([1.0, 0.1, 3.0, 2.0], dtype=dtype)
    dist = Gamma(a, b)
    ref = stats.gamma(a.astype(np.float64), scale=1.0 / b.astype(np.float64))
    x = np.array([0.01, 0.5, 3.0, 12.0, 40.0], dtype=dtype)[:, None]
    np.testing.assert_allclose(dist.log_prob(x).numpy(), ref.logpdf(x), rtol=RTOL[dtype] * 5)
    np.testing.assert_allclose(dist.cdf(x).numpy(), ref.cdf(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dist.survival(x).numpy(), ref.sf(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dist.mean().numpy(), ref.mean(), rtol=1e-6)
    np.testing.assert_allclose(dist.variance().numpy(), ref.var(), rtol=1e-6)
    assert np.all(dist.log_prob(np.array(-1.0, dtype)).numpy() == -np.inf)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gamma_tails_in_log_space(dtype):
    a = np.array([0.5, 2.0, 30.0], dtype=dtype)
    b = np.array([1.0, 0.1, 3.0], dtype=dtype)
    dist = Gamma(a, b)
    ref = stats.gamma(a.astype(np.float64), scale=1.0 / b.astype(np.float64))
    x_left = np.array([1e-30, 1e-12, 1e-3], dtype=dtype)[:, None]
    x_right = np.array([50.0, 2000.0, 1e4], dtype=dtype)[:, None]
    log_cdf = dist.log_cdf(x_left).numpy()
    log_sf = dist.log_survival(x_right).numpy()
    assert np.all(np.isfinite(log_cdf)) and np.all(np.isfinite(log_sf))
    ref_cdf = ref.logcdf(x_left.astype(np.float64))
    ok = np.isfinite(ref_cdf)  # scipy underflows to -inf where we do not
    np.testing.assert_allclose(log_cdf[ok], ref_cdf[ok], rtol=1e-5)
    y_left = (x_left * b).astype(np.float64)
    series = a * np.log(y_left) - y_left - special.gammaln(a + 1.0) + np.log1p(y_left / (a + 1))
    np.testing.assert_allclose(log_cdf[~ok], np.broadcast_to(series, y_left.shape)[~ok], rtol=1e-5)
    ref_sf = ref.logsf(x_right.astype(np.float64))
    finite = np.isfinite(ref_sf)  # scipy underflows to -inf where we do not
    np.testing.assert_allclose(log_sf[finite], ref_sf[finite], rtol=1e-5)
    # where scipy underflows, compare with the continued fraction's leading behaviour
    y = (x_right * b).astype(np.float64)
    leading = (a - 1.0) * np.log(y) - y - special.gammaln(a)
    np.testing.assert_allclose(
        log_sf[~finite], np.broadcast_to(leading, y.shape)[~finite], rtol=1e-3
    )
    assert np.all(np.isfinite(dist.log_prob(x_right).numpy()))
    cdf = dist.cdf(np.concatenate([x_left, x_right])).numpy()
    assert np.all((cdf >= 0.0) & (cdf <= 1.0))


# ---------------------------------------------------------------------- mixture
def _mixture_params(dtype):
    weights = np.array([[0.2, 0.5, 0.3], [1.0, 1.0, 2.0]], dtype=dtype)  # unnormalised row 2
    loc = np.array([[0.0, 5.0, 20.0], [-3.0, 0.0, 3.0]], dtype=dtype)
    scale = np.array([[1.0, 2.0, 4.0], [0.5, 1.0, 1.5]], dtype=dtype)
    r = np.array([[1.0, 3.0, 0.5], [2.0, 1.0, 5.0]], dtype=dtype)
    return weights, loc, scale, r


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixture_matches_weighted_components(dtype):
    weights, loc, scale, r = _mixture_params(dtype)
    mix = Mixture(weights, AsymmetricGaussian(loc, scale, r))
    assert mix.batch_shape == [2]
    x = np.linspace(-10.0, 40.0, 31).astype(dtype)[:, None]  # [31, 1] against batch [2]
    w = weights.astype(np.float64) / weights.sum(axis=-1, keepdims=True)
    comp_pdf = np.exp(_ag_reference_logpdf(x[..., None], loc, scale, r))
    ref_pdf = np.sum(w * comp_pdf, axis=-1)
    np.testing.assert_allclose(mix.log_prob(x).numpy(), np.log(ref_pdf), rtol=RTOL[dtype] * 5)
    ref_cdf = np.sum(w * _ag_reference_cdf(x[..., None], loc, scale, r), axis=-1)
    np.testing.assert_allclose(mix.cdf(x).numpy(), ref_cdf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mix.survival(x).numpy(), 1 - ref_cdf, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mix.log_cdf(x).numpy(), np.log(ref_cdf), rtol=1e-4, atol=1e-5)
    # from_logits gives the same mixture
    logits = np.log(weights) + 7.0
    same = Mixture.from_logits(logits, AsymmetricGaussian(loc, scale, r))
    np.testing.assert_allclose(same.log_prob(x).numpy(), mix.log_prob(x).numpy(), rtol=1e-5)


def test_mixture_normalised_cdf_integral_and_moments():
    weights, loc, scale, r = _mixture_params(np.float64)
    mix = Mixture(weights, AsymmetricGaussian(loc, scale, r))

    def piecewise_quad(func, edges):
        return sum(integrate.quad(func, a, b)[0] for a, b in itertools.pairwise(edges))

    for i in range(2):

        def pdf(t, i=i):
            return float(mix.prob(np.full([2], t))[i])

        breaks = sorted(loc[i])
        edges = [-np.inf, *breaks, np.inf]
        assert piecewise_quad(pdf, edges) == pytest.approx(1.0, abs=1e-8)
        x = 4.0
        value = piecewise_quad(pdf, [-np.inf, *[v for v in breaks if v < x], x])
        assert float(mix.cdf(np.full([2], x))[i]) == pytest.approx(value, abs=1e-8)
        mean = piecewise_quad(lambda t, pdf=pdf: t * pdf(t), edges)
        assert float(mix.mean()[i]) == pytest.approx(mean, abs=1e-7)
    a, b = np.array([-1.0, -2.0]), np.array([6.0, 1.0])
    np.testing.assert_allclose(mix.integral(a, b).numpy(), (mix.cdf(b) - mix.cdf(a)).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixture_tails_finite(dtype):
    weights, loc, scale, r = _mixture_params(dtype)
    mix = Mixture(weights, AsymmetricGaussian(loc, scale, r))
    x = np.array([-1e4, -500.0, 500.0, 1e4], dtype=dtype)[:, None]
    for values in (mix.log_prob(x), mix.log_cdf(x[:2]), mix.log_survival(x[2:])):
        assert np.all(np.isfinite(values.numpy()))
    cdf = mix.cdf(x).numpy()
    assert np.all((cdf >= 0.0) & (cdf <= 1.0))


def test_mixture_rejects_mismatched_component_axis():
    with pytest.raises(DistributionError, match="weights"):
        Mixture([0.5, 0.5], AsymmetricGaussian([0.0, 1.0, 2.0], 1.0, 1.0))


# ---------------------------------------------------------------------- negative binomial
def _log_prob_tolerance(dtype, k, mean, n=None):
    """Absolute tolerance of a count log-probability: the rounding of its largest terms
    (k log mean, mean, lgamma(k + 1), lgamma(k + n)), which cancel; float32 lgamma is good to
    ~1e-7 relative."""
    scale = 1.0 + np.abs(k * np.log(mean)) + mean + special.gammaln(k + 1)
    if n is not None:
        scale = scale + np.abs(special.gammaln(k + n) - special.gammaln(n))
    return (1e-14 if dtype == np.float64 else 1e-6) * scale


NB_CASES = [(5.0, 0.5), (100.0, 1e-3), (1000.0, 0.05), (0.3, 20.0), (40.0, 0.09), (40.0, 0.11)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_binomial_matches_scipy(dtype):
    mu = np.array([c[0] for c in NB_CASES])
    alpha = np.array([c[1] for c in NB_CASES])
    dist = NegativeBinomial(mu.astype(dtype), alpha.astype(dtype))
    k = np.array([0.0, 1.0, 3.0, 10.0, 57.0, 1000.0, 5000.0])[:, None]
    n, p = 1.0 / alpha, 1.0 / (1.0 + alpha * mu)
    ref = stats.nbinom.logpmf(k, n, p)
    got = dist.log_prob(k.astype(dtype)).numpy()
    assert np.all(np.abs(got - ref) <= _log_prob_tolerance(dtype, k, mu, n))
    np.testing.assert_allclose(
        dist.cdf(k.astype(dtype)).numpy(), stats.nbinom.cdf(k, n, p), rtol=1e-5, atol=1e-30
    )
    np.testing.assert_allclose(
        dist.survival(k.astype(dtype)).numpy(), stats.nbinom.sf(k, n, p), rtol=1e-4, atol=1e-30
    )
    np.testing.assert_allclose(dist.mean().numpy(), mu, rtol=1e-6)
    np.testing.assert_allclose(dist.variance().numpy(), mu + alpha * mu**2, rtol=1e-6)
    # continuous in k: the lgamma formula at non-integer k
    kc = np.array([0.37, 2.5, 14.2, 333.3])[:, None]
    cont = (
        special.gammaln(kc + n)
        - special.gammaln(n)
        - special.gammaln(kc + 1)
        + kc * np.log1p(-p)
        + n * np.log(p)
    )
    got = dist.log_prob(kc.astype(dtype)).numpy()
    assert np.all(np.abs(got - cont) <= _log_prob_tolerance(dtype, kc, mu, n))
    # integral over [a, b] = mass of the integers inside
    a, b = np.array(2.5, dtype), np.array(7.0, dtype)
    mass = stats.nbinom.cdf(7, n, p) - stats.nbinom.cdf(2, n, p)
    np.testing.assert_allclose(dist.integral(a, b).numpy(), mass, rtol=1e-4, atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_binomial_goes_smoothly_to_poisson(dtype):
    mu, k = 50.0, np.array([0.0, 3.0, 42.0, 50.0, 77.5, 300.0])
    poisson = k * np.log(mu) - mu - special.gammaln(k + 1)
    previous = None
    for alpha in [1e-5, 1e-7, 1e-9, 1e-15, 1e-30, 0.0]:
        got = NegativeBinomial(dtype(mu), dtype(alpha)).log_prob(k.astype(dtype)).numpy()
        assert np.all(np.isfinite(got))
        # expansion in alpha (polynomial in k, valid for real k):
        # log P = log Poisson + alpha/2 [(k - mu)^2 - k]
        #         + alpha^2 [-k (k - 1) (2k - 1) / 12 + k mu^2 / 2 - mu^3 / 3] + O(alpha^3 k^4)
        expected = (
            poisson
            + 0.5 * alpha * ((k - mu) ** 2 - k)
            + alpha**2 * (-k * (k - 1) * (2 * k - 1) / 12 + k * mu**2 / 2 - mu**3 / 3)
        )
        scale = 1.0 + k * np.log(mu) + mu + special.gammaln(k + 1)
        tol = (1e-14 if dtype == np.float64 else 1e-6) * scale
        assert np.all(np.abs(got - expected) <= tol + alpha**3 * (k**4 + mu**4))
        if previous is not None:
            assert np.all(np.abs(got - poisson) <= np.abs(previous - poisson) + tol)
        previous = got
    # no NaN in gradients at alpha = 0 or tiny alpha
    for alpha in [0.0, 1e-30, 1e-8]:
        a = tf.Variable(dtype(alpha))
        m = tf.Variable(dtype(mu))
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(NegativeBinomial(m, a).log_prob(k.astype(dtype)))
        grads = tape.gradient(value, [m, a])
        assert all(np.isfinite(g.numpy()) for g in grads)
        # d/dalpha at 0 = sum 0.5 [(k - mu)^2 - k]
        if alpha == 0.0 and dtype == np.float64:
            assert float(grads[1]) == pytest.approx(np.sum(0.5 * ((k - mu) ** 2 - k)), rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_binomial_from_mean_variance_and_zero_mean(dtype):
    dist = NegativeBinomial.from_mean_variance(
        np.array([4.0, 10.0, 3.0], dtype), np.array([12.0, 10.0, 2.0], dtype)
    )
    np.testing.assert_allclose(dist.alpha.numpy(), [0.5, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(dist.variance().numpy(), [12.0, 10.0, 3.0], rtol=1e-6)
    zero = NegativeBinomial(np.array([0.0, 0.0], dtype), np.array([0.0, 0.3], dtype))
    values = zero.log_prob(np.array([[0.0], [2.0]], dtype)).numpy()
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[0], 0.0, atol=1e-6)
    assert np.all(values[1] < -50.0)


# ---------------------------------------------------------------------- poisson
@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_matches_scipy(dtype):
    rate = np.array([0.01, 1.0, 7.5, 300.0])
    dist = Poisson(rate.astype(dtype))
    k = np.array([0.0, 1.0, 4.0, 30.0, 290.0, 2000.0])[:, None]
    ref = stats.poisson.logpmf(k, rate)
    got = dist.log_prob(k.astype(dtype)).numpy()
    assert np.all(np.abs(got - ref) <= _log_prob_tolerance(dtype, k, rate))
    np.testing.assert_allclose(
        dist.cdf(k.astype(dtype)).numpy(), stats.poisson.cdf(k, rate), rtol=1e-5, atol=1e-30
    )
    np.testing.assert_allclose(
        dist.survival(k.astype(dtype)).numpy(), stats.poisson.sf(k, rate), rtol=1e-4, atol=1e-30
    )
    kc = np.array([0.5, 3.3])[:, None]
    cont = kc * np.log(rate) - rate - special.gammaln(kc + 1)
    np.testing.assert_allclose(dist.log_prob(kc.astype(dtype)).numpy(), cont, rtol=1e-5)
    assert np.all(dist.log_prob(np.array(-1.0, dtype)).numpy() == -np.inf)


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_zero_rate_is_clipped(dtype):
    dist = Poisson(np.array(0.0, dtype))
    assert float(dist.log_prob(dtype(0.0))) == pytest.approx(0.0, abs=1e-6)
    value = float(dist.log_prob(dtype(3.0)))
    expected = 3.0 * np.log(RATE_FLOOR) - special.gammaln(4.0)
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-5)
    rate = tf.Variable(dtype(0.0))
    with tf.GradientTape() as tape:
        lp = Poisson(rate).log_prob(dtype(3.0))
    assert np.isfinite(tape.gradient(lp, rate).numpy())


# ---------------------------------------------------------------------- common behaviour
def _all_distributions(dtype):
    weights, loc, scale, r = _mixture_params(dtype)
    return {
        "asymmetric_gaussian": AsymmetricGaussian(
            np.array([1.0, -2.0], dtype), np.array([2.0, 0.5], dtype), np.array([3.0, 0.4], dtype)
        ),
        "gamma": Gamma(np.array([0.7, 25.0], dtype), np.array([2.0, 0.5], dtype)),
        "mixture": Mixture(weights, AsymmetricGaussian(loc, scale, r)),
        "negative_binomial": NegativeBinomial(
            np.array([3.0, 80.0], dtype), np.array([0.4, 0.01], dtype)
        ),
        "poisson": Poisson(np.array([0.8, 120.0], dtype)),
    }


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_moments_and_determinism(dtype):
    num = 40000
    for name, dist in _all_distributions(dtype).items():
        sample = dist.sample(num, seed=7).numpy()
        assert sample.shape == (num, 2) and sample.dtype == dtype, name
        again = dist.sample([num], seed=7).numpy()
        np.testing.assert_array_equal(sample, again, err_msg=name)
        other = dist.sample(num, seed=(7, 1)).numpy()
        assert not np.array_equal(sample, other), name
        mean, var = dist.mean().numpy(), dist.variance().numpy()
        se_mean = np.sqrt(var / num)
        assert np.all(np.abs(sample.mean(axis=0) - mean) < 5 * se_mean), name
        # standard error of the sample variance ~ var * sqrt((kurtosis - 1) / n); generous 10%
        np.testing.assert_allclose(sample.var(axis=0), var, rtol=0.1, err_msg=name)
    with pytest.raises(DistributionError, match="seed"):
        Poisson(1.0).sample(3, seed=None)


def test_dtype_inference():
    assert AsymmetricGaussian(0.0, 1.0, 1.0).dtype == tf.float32
    assert Gamma(np.float64(2.0), 1.0).dtype == tf.float64
    assert Poisson(tf.constant([1.0], tf.float64)).dtype == tf.float64
    with pytest.raises(DistributionError, match="dtypes"):
        Gamma(tf.constant(1.0, tf.float32), tf.constant(1.0, tf.float64))


def _finite_difference_check(make, params, x, method="log_prob", rtol=1e-6):
    variables = [tf.Variable(np.float64(p)) for p in params]
    with tf.GradientTape() as tape:
        value = getattr(make(*variables), method)(np.float64(x))
    grads = tape.gradient(value, variables)
    for i, p in enumerate(params):
        h = 1e-6 * max(1.0, abs(p))
        up = [np.float64(q + h * (j == i)) for j, q in enumerate(params)]
        down = [np.float64(q - h * (j == i)) for j, q in enumerate(params)]
        numeric = (
            float(getattr(make(*up), method)(np.float64(x)))
            - float(getattr(make(*down), method)(np.float64(x)))
        ) / (2 * h)
        assert float(grads[i]) == pytest.approx(numeric, rel=rtol, abs=1e-8), (method, i)


def test_gradients_match_finite_differences():
    ag = AsymmetricGaussian
    for x in [-1.5, 0.7, 4.0]:
        _finite_difference_check(ag, [0.5, 1.3, 2.2], x)
        _finite_difference_check(ag, [0.5, 1.3, 2.2], x, "cdf")
        _finite_difference_check(ag, [0.5, 1.3, 2.2], x, "log_survival")
    _finite_difference_check(Gamma, [2.5, 0.7], 3.1)
    _finite_difference_check(Gamma, [2.5, 0.7], 3.1, "cdf", rtol=1e-5)

    def mixture(w, loc, scale):
        comps = AsymmetricGaussian(tf.stack([loc, loc + 3.0]), tf.stack([scale, 1.0]), 1.5)
        return Mixture(tf.stack([w, 1.0 - w]), comps)

    _finite_difference_check(mixture, [0.3, 0.2, 0.8], 1.1)
    _finite_difference_check(mixture, [0.3, 0.2, 0.8], 1.1, "cdf")
    for mu, alpha, k in [(7.0, 0.3, 5.0), (40.0, 0.05, 61.5), (40.0, 0.2, 12.0), (3.0, 1e-5, 4.0)]:
        _finite_difference_check(NegativeBinomial, [mu, alpha], k)
    _finite_difference_check(Poisson, [6.5], 3.0)
