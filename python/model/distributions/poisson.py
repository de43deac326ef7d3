"""Poisson(rate) with ``log_prob(k) = k log(rate) - rate - lgamma(k + 1)``, continuous in k.

The rate is clipped below at :data:`RATE_FLOOR` (1e-20) before any log is taken: a DOM that
records charge where the model expects none then costs a large but finite penalty
(``k log(1e-20) = -46 k``) instead of -inf, which would stop training. A zero rate with k = 0
gives log_prob = -1e-20 (0 to all precision). Below the floor the gradient w.r.t. the rate is 0.
``log_prob`` is -inf for k < 0; ``cdf(k)`` is P(X <= floor(k)), evaluated in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .base import DiscreteDistribution, convert, infer_dtype

#: Smallest rate used in log_prob/cdf; smaller (and zero) rates are clipped to it.
RATE_FLOOR = 1e-20


def poisson_log_prob(k: tf.Tensor, rate: tf.Tensor) -> tf.Tensor:
    """Poisson log-probability, continuous in k >= 0 (-inf for k < 0); rate clipped at the floor."""
    rate = tf.maximum(rate, RATE_FLOOR)
    safe_k = tf.maximum(k, 0.0)
    value = safe_k * tf.math.log(rate) - rate - tf.math.lgamma(safe_k + 1.0)
    return tf.where(k >= 0.0, value, tf.constant(-np.inf, value.dtype))


class Poisson(DiscreteDistribution):
    """Poisson distribution.

    Parameters
    ----------
    rate : tensor-like
        Expected count (>= 0; clipped at :data:`RATE_FLOOR` in log_prob and cdf).
    dtype : tf.DType, optional
        Forces the dtype (default: that of the rate).
    """

    def __init__(self, rate: Any, dtype=None, name="Poisson"):
        dtype = infer_dtype([rate], dtype)
        super().__init__({"rate": convert(rate, dtype)}, name)

    @property
    def rate(self) -> tf.Tensor:
        return self._parameters["rate"]

    def _log_prob(self, k: tf.Tensor) -> tf.Tensor:
        return poisson_log_prob(k, self.rate)

    def _cdf_survival(self, k: tf.Tensor):
        """(cdf, survival) at floor(k), computed in float64 (float32 igamma is poor)."""
        rate = tf.maximum(tf.cast(self.rate, tf.float64), RATE_FLOOR)
        n = tf.math.floor(tf.cast(k, tf.float64))
        m1 = tf.maximum(n, 0.0) + 1.0
        cdf = tf.where(n >= 0.0, tf.math.igammac(m1, rate), 0.0)
        survival = tf.where(n >= 0.0, tf.math.igamma(m1, rate), 1.0)
        return tf.cast(cdf, self.dtype), tf.cast(survival, self.dtype)

    def _cdf(self, k: tf.Tensor) -> tf.Tensor:
        return self._cdf_survival(k)[0]

    def _survival(self, k: tf.Tensor) -> tf.Tensor:
        return self._cdf_survival(k)[1]

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        rate = tf.broadcast_to(self.rate, self.batch_shape_tensor())
        return tf.random.stateless_poisson(shape, seed, lam=rate, dtype=self.dtype)

    def _mean(self) -> tf.Tensor:
        return self.rate

    def _variance(self) -> tf.Tensor:
        return self.rate
