"""NegativeBinomial(mean, alpha): variance ``mean + alpha * mean^2``, continuous in the count.

With n = 1 / alpha and p = 1 / (1 + alpha mean) (scipy's ``nbinom(n, p)``)::

    log P(k) = lgamma(k + n) - lgamma(n) - lgamma(k + 1) + k log(1 - p) + n log(p)

evaluated in a form that is stable for every alpha >= 0 and goes smoothly into the Poisson
distribution as alpha -> 0 (exactly Poisson at alpha = 0, no NaN in values or gradients)::

    log P(k) = B(k, alpha) - lgamma(k + 1) + k [log(mean) - log1p(alpha mean)]
               - mean * log1p(alpha mean) / (alpha mean)

with ``B = lgamma(k + n) - lgamma(n) - k log(n)`` (-> 0 as alpha -> 0). For n <= 10 B is
evaluated directly; for n > 10 via Stirling's series in terms of alpha,
``B = k [(k - 1/2) alpha L(k alpha) + L(k alpha) - 1] + C(k + n) - C(n)`` with
``L(x) = log1p(x) / x`` and the Stirling correction ``C(z) = 1/(12 z) - 1/(360 z^3) + ...``.

The mean is clipped below at :data:`MEAN_FLOOR` (1e-20, as the Poisson rate) and alpha below at 0.
``log_prob`` is -inf for k < 0. ``cdf(k)`` is P(X <= floor(k)), evaluated in float64 with the
regularised incomplete beta function (the Poisson cdf where alpha * mean < 1e-7, where the two
agree to that order and float64 betainc loses accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .base import DiscreteDistribution, convert, infer_dtype, log1p_over_x, split_seed

#: Smallest mean used in log_prob/cdf; smaller (and zero) means are clipped to it.
MEAN_FLOOR = 1e-20
#: Below this alpha (n = 1/alpha > 10) B(k, alpha) is evaluated with Stirling's series.
_ALPHA_STIRLING = 0.1
#: Below this alpha * mean the cdf is the Poisson cdf.
_POISSON_CDF_LIMIT = 1e-7


def _log1p_over_x_minus_one(x: tf.Tensor) -> tf.Tensor:
    """``log1p(x) / x - 1`` for x >= 0 without cancellation near 0."""
    small = x < 1e-3
    safe = tf.where(small, tf.ones_like(x), x)
    series = x * (-0.5 + x * (1.0 / 3.0 + x * (-0.25 + x * 0.2)))
    return tf.where(small, series, (tf.math.log1p(safe) - safe) / safe)


def _stirling_correction(w: tf.Tensor) -> tf.Tensor:
    """lgamma(z) - [(z - 1/2) log z - z + log(2 pi)/2] for w = 1/z <= 0.1."""
    w2 = tf.square(w)
    return w * (1.0 / 12.0 + w2 * (-1.0 / 360.0 + w2 * (1.0 / 1260.0 - w2 / 1680.0)))


def _log_gamma_ratio(k: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """B(k, alpha) = lgamma(k + 1/alpha) - lgamma(1/alpha) + k log(alpha), alpha >= 0."""
    small = alpha < _ALPHA_STIRLING
    # direct branch (n <= 10)
    alpha_d = tf.maximum(alpha, _ALPHA_STIRLING)
    n_d = 1.0 / alpha_d
    direct = tf.math.lgamma(k + n_d) - tf.math.lgamma(n_d) + k * tf.math.log(alpha_d)
    # Stirling branch (n > 10), finite at alpha = 0
    alpha_s = tf.minimum(alpha, _ALPHA_STIRLING)
    x = k * alpha_s
    main = k * ((k - 0.5) * alpha_s * log1p_over_x(x) + _log1p_over_x_minus_one(x))
    correction = _stirling_correction(alpha_s / (1.0 + x)) - _stirling_correction(alpha_s)
    return tf.where(small, main + correction, direct)


def negative_binomial_log_prob(k: tf.Tensor, mean: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """NB log-probability (mean, alpha), continuous in k >= 0, -inf for k < 0 (see module doc)."""
    mean = tf.maximum(mean, MEAN_FLOOR)
    alpha = tf.maximum(alpha, 0.0)
    safe_k = tf.maximum(k, 0.0)
    am = alpha * mean
    value = (
        _log_gamma_ratio(safe_k, alpha)
        - tf.math.lgamma(safe_k + 1.0)
        + safe_k * (tf.math.log(mean) - tf.math.log1p(am))
        - mean * log1p_over_x(am)
    )
    return tf.where(k >= 0.0, value, tf.constant(-np.inf, value.dtype))


class NegativeBinomial(DiscreteDistribution):
    """Negative binomial distribution with mean ``mean`` and variance ``mean + alpha mean^2``.

    Parameters
    ----------
    mean : tensor-like
        Expected count (>= 0; clipped at :data:`MEAN_FLOOR`).
    alpha : tensor-like
        Over-dispersion (>= 0; 0 is the Poisson distribution; negative values are clipped to 0).
    dtype : tf.DType, optional
        Forces the dtype (default: that of the parameters).
    """

    def __init__(self, mean: Any, alpha: Any, dtype=None, name="NegativeBinomial"):
        dtype = infer_dtype([mean, alpha], dtype)
        super().__init__({"mean": convert(mean, dtype), "alpha": convert(alpha, dtype)}, name)

    @classmethod
    def from_mean_variance(
        cls, mean: Any, variance: Any, dtype=None, name="NegativeBinomial"
    ) -> NegativeBinomial:
        """The NB with the given mean and variance (variance < mean is clipped to Poisson).

        ``alpha = max(variance - mean, 0) / max(mean, MEAN_FLOOR)^2``.
        """
        dtype = infer_dtype([mean, variance], dtype)
        mean = convert(mean, dtype)
        variance = convert(variance, dtype)
        alpha = tf.maximum(variance - mean, 0.0) / tf.square(tf.maximum(mean, MEAN_FLOOR))
        return cls(mean, alpha, name=name)

    @property
    def alpha(self) -> tf.Tensor:
        return self._parameters["alpha"]

    def _mean_param(self) -> tf.Tensor:
        return self._parameters["mean"]

    def _log_prob(self, k: tf.Tensor) -> tf.Tensor:
        return negative_binomial_log_prob(k, self._mean_param(), self.alpha)

    def _cdf_survival(self, k: tf.Tensor):
        """(cdf, survival) at floor(k), computed in float64."""
        k64 = tf.cast(k, tf.float64)
        mean = tf.maximum(tf.cast(self._mean_param(), tf.float64), MEAN_FLOOR)
        alpha = tf.maximum(tf.cast(self.alpha, tf.float64), 0.0)
        zeros = tf.zeros_like(k64) + tf.zeros_like(mean) + tf.zeros_like(alpha)
        n_k = tf.math.floor(k64) + zeros
        mean, alpha = mean + zeros, alpha + zeros
        am = alpha * mean
        poisson = am < _POISSON_CDF_LIMIT
        m1 = tf.maximum(n_k, 0.0) + 1.0
        safe_alpha = tf.where(poisson, tf.ones_like(alpha), alpha)
        safe_am = safe_alpha * mean
        p = 1.0 / (1.0 + safe_am)
        q = safe_am / (1.0 + safe_am)
        cdf = tf.where(poisson, tf.math.igammac(m1, mean), tf.math.betainc(1.0 / safe_alpha, m1, p))
        survival = tf.where(
            poisson, tf.math.igamma(m1, mean), tf.math.betainc(m1, 1.0 / safe_alpha, q)
        )
        negative = n_k < 0.0
        cdf = tf.where(negative, tf.zeros_like(cdf), cdf)
        survival = tf.where(negative, tf.ones_like(survival), survival)
        return tf.cast(cdf, self.dtype), tf.cast(survival, self.dtype)

    def _cdf(self, k: tf.Tensor) -> tf.Tensor:
        return self._cdf_survival(k)[0]

    def _survival(self, k: tf.Tensor) -> tf.Tensor:
        return self._cdf_survival(k)[1]

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        gamma_seed, poisson_seed = split_seed(seed, 2)
        mean = tf.broadcast_to(tf.maximum(self._mean_param(), 0.0), self.batch_shape_tensor())
        alpha = tf.broadcast_to(tf.maximum(self.alpha, 0.0), self.batch_shape_tensor())
        # gamma-Poisson mixture: rate ~ mean * Gamma(n, 1) / n, n = 1 / alpha
        n = 1.0 / tf.maximum(alpha, 1e-30)
        gamma = tf.random.stateless_gamma(shape, gamma_seed, alpha=n, dtype=self.dtype)
        rate = tf.where(alpha > 0.0, mean * gamma / n, mean + tf.zeros_like(gamma))
        return tf.random.stateless_poisson(shape, poisson_seed, lam=rate, dtype=self.dtype)

    def _mean(self) -> tf.Tensor:
        return self._mean_param() + tf.zeros_like(self.alpha)

    def _variance(self) -> tf.Tensor:
        mean = self._mean_param()
        return mean + self.alpha * tf.square(mean)
