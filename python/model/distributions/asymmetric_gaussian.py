"""AsymmetricGaussian: a Gaussian with different widths left and right of its mode.

Density (sigma = scale, r = asymmetry, z_l = (x - loc) / sigma, z_r = (x - loc) / (r sigma))::

    pdf(x) = 2 / (sqrt(2 pi) sigma (1 + r)) * exp(-z_l^2 / 2)   for x <  loc
    pdf(x) = 2 / (sqrt(2 pi) sigma (1 + r)) * exp(-z_r^2 / 2)   for x >= loc

continuous at the mode ``loc`` and normalised. The left half holds 1 / (1 + r) of the mass.
CDF and survival use ``log_ndtr`` so that both tails stay accurate in log space.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from .base import Distribution, convert, infer_dtype, split_seed
from .special import log_ndtr, ndtr

_LOG_2_OVER_SQRT_2PI = math.log(2.0) - 0.5 * math.log(2.0 * math.pi)


class AsymmetricGaussian(Distribution):
    """Asymmetric Gaussian with mode ``loc``, left width ``scale`` and right width
    ``asymmetry * scale``.

    Parameters
    ----------
    loc : tensor-like
        Mode.
    scale : tensor-like
        Width left of the mode (> 0).
    asymmetry : tensor-like
        Ratio of the right width to the left width (> 0).
    dtype : tf.DType, optional
        Forces the dtype (default: that of the parameters).
    """

    def __init__(self, loc: Any, scale: Any, asymmetry: Any, dtype=None, name="AsymmetricGaussian"):
        dtype = infer_dtype([loc, scale, asymmetry], dtype)
        super().__init__(
            {
                "loc": convert(loc, dtype),
                "scale": convert(scale, dtype),
                "asymmetry": convert(asymmetry, dtype),
            },
            name,
        )

    @property
    def loc(self) -> tf.Tensor:
        return self._parameters["loc"]

    @property
    def scale(self) -> tf.Tensor:
        return self._parameters["scale"]

    @property
    def asymmetry(self) -> tf.Tensor:
        return self._parameters["asymmetry"]

    def _split(self, x: tf.Tensor):
        """Standardised distances on both sides, each evaluated only on its own half-line."""
        loc, scale, r = self.loc, self.scale, self.asymmetry
        left = x < loc
        z_left = (tf.minimum(x, loc) - loc) / scale  # <= 0
        z_right = (tf.maximum(x, loc) - loc) / (r * scale)  # >= 0
        return left, z_left, z_right

    def _log_prob(self, x: tf.Tensor) -> tf.Tensor:
        left, z_left, z_right = self._split(x)
        z = tf.where(left, z_left, z_right)
        log_norm = _LOG_2_OVER_SQRT_2PI - tf.math.log(self.scale) - tf.math.log1p(self.asymmetry)
        return log_norm - 0.5 * tf.square(z)

    def _cdf(self, x: tf.Tensor) -> tf.Tensor:
        left, z_left, z_right = self._split(x)
        r = self.asymmetry
        below = 2.0 / (1.0 + r) * ndtr(z_left)
        above = 1.0 - 2.0 * r / (1.0 + r) * ndtr(-z_right)
        return tf.where(left, below, above)

    def _survival(self, x: tf.Tensor) -> tf.Tensor:
        left, z_left, z_right = self._split(x)
        r = self.asymmetry
        below = 1.0 - 2.0 / (1.0 + r) * ndtr(z_left)
        above = 2.0 * r / (1.0 + r) * ndtr(-z_right)
        return tf.where(left, below, above)

    def _log_cdf(self, x: tf.Tensor) -> tf.Tensor:
        left, z_left, z_right = self._split(x)
        r = self.asymmetry
        below = math.log(2.0) - tf.math.log1p(r) + log_ndtr(z_left)
        log_right_mass = math.log(2.0) + tf.math.log(r) - tf.math.log1p(r)
        # survival above the mode <= r / (1 + r) < 1: log1p(-exp(.)) is safe
        above = tf.math.log1p(-tf.exp(log_right_mass + log_ndtr(-z_right)))
        return tf.where(left, below, above)

    def _log_survival(self, x: tf.Tensor) -> tf.Tensor:
        left, z_left, z_right = self._split(x)
        r = self.asymmetry
        log_left_mass = math.log(2.0) - tf.math.log1p(r)
        below = tf.math.log1p(-tf.exp(log_left_mass + log_ndtr(z_left)))
        above = math.log(2.0) + tf.math.log(r) - tf.math.log1p(r) + log_ndtr(-z_right)
        return tf.where(left, below, above)

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        side_seed, normal_seed = split_seed(seed, 2)
        r = self.asymmetry
        u = tf.random.stateless_uniform(shape, side_seed, dtype=self.dtype)
        z = tf.abs(tf.random.stateless_normal(shape, normal_seed, dtype=self.dtype))
        left = u < 1.0 / (1.0 + r)
        offset = tf.where(left, -z * self.scale, z * self.scale * r)
        return self.loc + offset

    def _mean(self) -> tf.Tensor:
        return self.loc + math.sqrt(2.0 / math.pi) * self.scale * (self.asymmetry - 1.0)

    def _variance(self) -> tf.Tensor:
        r = self.asymmetry
        second = tf.square(self.scale) * (1.0 - r + tf.square(r))
        first = math.sqrt(2.0 / math.pi) * self.scale * (r - 1.0)
        out = second - tf.square(first)
        return out + tf.zeros_like(self.loc)
