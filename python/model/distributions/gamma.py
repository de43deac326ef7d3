"""Gamma(concentration, rate): density rate^a x^(a-1) exp(-rate x) / Gamma(a) on x > 0.

``log_prob`` is -inf for x < 0. ``log_cdf`` and ``log_survival`` stay finite deep in the tails:
where the regularised incomplete gamma functions underflow they are evaluated in log space
(the power series of P(a, y) on the left, the continued fraction of Q(a, y) on the right).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .base import Distribution, convert, infer_dtype

_SERIES_TERMS = 64
_FRACTION_TERMS = 64


def _underflow_threshold(dtype: tf.DType) -> float:
    """Values of P or Q below this are recomputed in log space."""
    return 1e-30 if dtype == tf.float32 else 1e-290


def log_lower_regularized_gamma_series(a: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """log P(a, y) by its power series (accurate for y < a + 1; ``_SERIES_TERMS`` terms)."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_SERIES_TERMS):
        ap = ap + 1.0
        term = term * y / ap
        total = total + term
    return tf.math.log(total) - y + a * tf.math.log(y) - tf.math.lgamma(a)


def log_upper_regularized_gamma_fraction(a: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """log Q(a, y) by its continued fraction (modified Lentz; accurate for y > a + 1)."""
    tiny = np.finfo(a.dtype.as_numpy_dtype).tiny * 1e4
    b = y + 1.0 - a
    c = tf.ones_like(b) / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _FRACTION_TERMS + 1):
        an = -float(i) * (float(i) - a)
        b = b + 2.0
        d = an * d + b
        d = tf.where(tf.abs(d) < tiny, tiny * tf.ones_like(d), d)
        c = b + an / c
        c = tf.where(tf.abs(c) < tiny, tiny * tf.ones_like(c), c)
        d = 1.0 / d
        h = h * d * c
    return tf.math.log(h) - y + a * tf.math.log(y) - tf.math.lgamma(a)


class Gamma(Distribution):
    """Gamma distribution.

    Parameters
    ----------
    concentration : tensor-like
        Shape a (> 0).
    rate : tensor-like
        Rate b (> 0); mean a / b, variance a / b^2.
    dtype : tf.DType, optional
        Forces the dtype (default: that of the parameters).
    """

    def __init__(self, concentration: Any, rate: Any, dtype=None, name="Gamma"):
        dtype = infer_dtype([concentration, rate], dtype)
        super().__init__(
            {"concentration": convert(concentration, dtype), "rate": convert(rate, dtype)}, name
        )

    @property
    def concentration(self) -> tf.Tensor:
        return self._parameters["concentration"]

    @property
    def rate(self) -> tf.Tensor:
        return self._parameters["rate"]

    def _broadcast(self, x: tf.Tensor):
        a, b = self.concentration, self.rate
        zeros = tf.zeros_like(x) + tf.zeros_like(a) + tf.zeros_like(b)
        return a + zeros, b + zeros, x + zeros

    def _log_prob(self, x: tf.Tensor) -> tf.Tensor:
        a, b, x = self._broadcast(x)
        positive = x > 0.0
        safe_x = tf.where(positive, x, tf.ones_like(x))
        value = (
            tf.math.xlogy(a, b) + tf.math.xlogy(a - 1.0, safe_x) - b * safe_x - tf.math.lgamma(a)
        )
        at_zero = tf.where(
            a < 1.0,
            tf.constant(np.inf, x.dtype),
            tf.where(a > 1.0, tf.constant(-np.inf, x.dtype), tf.math.log(b)),
        )
        outside = tf.where(x < 0.0, tf.constant(-np.inf, x.dtype), at_zero)
        return tf.where(positive, value, outside)

    def _cdf(self, x: tf.Tensor) -> tf.Tensor:
        a, b, x = self._broadcast(x)
        return tf.math.igamma(a, b * tf.maximum(x, 0.0))

    def _survival(self, x: tf.Tensor) -> tf.Tensor:
        a, b, x = self._broadcast(x)
        return tf.math.igammac(a, b * tf.maximum(x, 0.0))

    def _log_cdf(self, x: tf.Tensor) -> tf.Tensor:
        a, b, x = self._broadcast(x)
        y = b * tf.maximum(x, 0.0)
        threshold = _underflow_threshold(x.dtype)
        direct = tf.stop_gradient(tf.math.igamma(a, y)) > threshold
        use_series = tf.logical_and(tf.logical_not(direct), y > 0.0)
        y_direct = tf.where(direct, y, a)
        y_series = tf.where(use_series, y, a)
        value = tf.where(
            direct,
            tf.math.log(tf.math.igamma(a, y_direct)),
            log_lower_regularized_gamma_series(a, y_series),
        )
        return tf.where(y > 0.0, value, tf.constant(-np.inf, x.dtype))

    def _log_survival(self, x: tf.Tensor) -> tf.Tensor:
        a, b, x = self._broadcast(x)
        y = b * tf.maximum(x, 0.0)
        threshold = _underflow_threshold(x.dtype)
        direct = tf.stop_gradient(tf.math.igammac(a, y)) > threshold
        y_direct = tf.where(direct, y, a)
        y_fraction = tf.where(direct, a + 2.0, y)
        return tf.where(
            direct,
            tf.math.log(tf.math.igammac(a, y_direct)),
            log_upper_regularized_gamma_fraction(a, y_fraction),
        )

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        a = tf.broadcast_to(self.concentration, self.batch_shape_tensor())
        b = tf.broadcast_to(self.rate, self.batch_shape_tensor())
        return tf.random.stateless_gamma(shape, seed, alpha=a, dtype=self.dtype) / b

    def _mean(self) -> tf.Tensor:
        return self.concentration / self.rate

    def _variance(self) -> tf.Tensor:
        return self.concentration / tf.square(self.rate)
