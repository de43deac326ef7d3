"""Special functions missing from tf.math: the standard normal CDF and its logarithm."""

from __future__ import annotations

import math

import tensorflow as tf

_SQRT_HALF = math.sqrt(0.5)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def ndtr(z: tf.Tensor) -> tf.Tensor:
    """Standard normal CDF Phi(z) (accurate in the left tail, where it is tiny)."""
    return 0.5 * tf.math.erfc(-z * _SQRT_HALF)


def _asymptotic_threshold(dtype: tf.DType) -> float:
    # below this z, erfc(-z/sqrt 2) nears underflow; the asymptotic series (5 terms) is then
    # accurate to ~1e-12 (float64) or ~1e-7 (float32) relative
    return -30.0 if dtype == tf.float64 else -10.0


def log_ndtr(z: tf.Tensor) -> tf.Tensor:
    """log Phi(z), finite and accurate for every finite z (both tails)."""
    threshold = _asymptotic_threshold(z.dtype)
    far_left = z < threshold
    # z >= 0: log(1 - Phi(-z)) without rounding Phi(z) to 1
    z_pos = tf.maximum(z, 0.0)
    right = tf.math.log1p(-0.5 * tf.math.erfc(z_pos * _SQRT_HALF))
    # threshold <= z < 0: direct
    z_mid = tf.clip_by_value(z, threshold, 0.0)
    middle = tf.math.log(0.5 * tf.math.erfc(-z_mid * _SQRT_HALF))
    # z < threshold: asymptotic expansion of the Mills ratio
    z_far = tf.minimum(z, threshold)
    w = 1.0 / tf.square(z_far)
    series = 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 - 945.0 * w))))
    asymptotic = -0.5 * tf.square(z_far) - tf.math.log(-z_far) - _HALF_LOG_2PI
    asymptotic = asymptotic + tf.math.log(series)
    return tf.where(z >= 0.0, right, tf.where(far_left, asymptotic, middle))
