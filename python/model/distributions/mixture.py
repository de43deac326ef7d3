"""Mixture of K components of one distribution family.

The component distribution carries a trailing component axis K on its parameters; the weights
have shape [..., K]. An argument ``x`` of shape [...] is evaluated against all K components by
appending that axis (``x[..., None]``); log_prob is a logsumexp over the components, cdf and
survival are weighted sums (their logs again logsumexps, so tails stay accurate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .base import Distribution, DistributionError, convert, split_seed


class Mixture(Distribution):
    """Weighted mixture of the K components of ``components``.

    Parameters
    ----------
    weights : tensor-like [..., K]
        Non-negative weights; normalised inside (they need not sum to 1).
    components : Distribution
        A distribution whose batch shape ends with the component axis K.

    See Also
    --------
    Mixture.from_logits : weights given as unnormalised log-weights.
    """

    def __init__(self, weights: Any, components: Distribution, name: str = "Mixture"):
        self._init(components, log_weights=None, weights=weights, name=name)

    @classmethod
    def from_logits(cls, logits: Any, components: Distribution, name: str = "Mixture") -> Mixture:
        """Mixture with weights ``softmax(logits)`` along the last axis."""
        mixture = cls.__new__(cls)
        mixture._init(components, log_weights=logits, weights=None, name=name)
        return mixture

    def _init(self, components, log_weights, weights, name):
        if not isinstance(components, Distribution):
            raise DistributionError(
                f"{name}: components must be a Distribution, got {type(components).__name__}"
            )
        dtype = components.dtype
        if weights is not None:
            weights = convert(weights, dtype)
            total = tf.reduce_sum(weights, axis=-1, keepdims=True)
            self._weights = weights / total
            tiny = np.finfo(dtype.as_numpy_dtype).tiny
            self._log_weights = tf.math.log(tf.maximum(self._weights, tiny))
        else:
            self._log_weights = tf.nn.log_softmax(convert(log_weights, dtype), axis=-1)
            self._weights = tf.exp(self._log_weights)
        self._components = components
        num = self._log_weights.shape[-1]
        comp_num = components.batch_shape[-1] if components.batch_shape.rank else None
        if num is not None and comp_num is not None and comp_num not in (1, num):
            raise DistributionError(
                f"{name}: {num} weights but the components' last axis has {comp_num} entries"
            )
        super().__init__({"log_weights": self._log_weights}, name)

    @property
    def components(self) -> Distribution:
        """The component distribution (batch shape [..., K])."""
        return self._components

    @property
    def weights(self) -> tf.Tensor:
        """Normalised weights [..., K]."""
        return self._weights

    @property
    def log_weights(self) -> tf.Tensor:
        """Normalised log-weights [..., K]."""
        return self._log_weights

    @property
    def batch_shape(self) -> tf.TensorShape:
        shape = tf.broadcast_static_shape(self._log_weights.shape, self._components.batch_shape)
        return shape[:-1]

    def batch_shape_tensor(self) -> tf.Tensor:
        shape = tf.broadcast_dynamic_shape(
            tf.shape(self._log_weights), self._components.batch_shape_tensor()
        )
        return shape[:-1]

    # ------------------------------------------------------------------ hooks
    def _log_prob(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_logsumexp(
            self._log_weights + self._components.log_prob(x[..., None]), axis=-1
        )

    def _prob(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(self._weights * self._components.prob(x[..., None]), axis=-1)

    def _cdf(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(self._weights * self._components.cdf(x[..., None]), axis=-1)

    def _survival(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(self._weights * self._components.survival(x[..., None]), axis=-1)

    def _log_cdf(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_logsumexp(
            self._log_weights + self._components.log_cdf(x[..., None]), axis=-1
        )

    def _log_survival(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_logsumexp(
            self._log_weights + self._components.log_survival(x[..., None]), axis=-1
        )

    def _integral(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        mass = self._components.integral(a[..., None], b[..., None])
        return tf.reduce_sum(self._weights * mass, axis=-1)

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        choice_seed, component_seed = split_seed(seed, 2)
        num = tf.shape(self._log_weights)[-1]
        full = tf.concat([shape, [num]], axis=0)
        # every component sampled, one picked per draw (Gumbel-max: exact categorical choice)
        values = self._components._sample(full, component_seed)
        u = tf.random.stateless_uniform(
            full, choice_seed, minval=np.finfo(np.float64).tiny, maxval=1.0, dtype=tf.float64
        )
        gumbel = -tf.math.log(-tf.math.log(u))
        log_w = tf.cast(tf.broadcast_to(self._log_weights, full), tf.float64)
        pick = tf.argmax(log_w + gumbel, axis=-1, output_type=tf.int32)
        return tf.reduce_sum(values * tf.one_hot(pick, num, dtype=values.dtype), axis=-1)

    def _mean(self) -> tf.Tensor:
        return tf.reduce_sum(self._weights * self._components.mean(), axis=-1)

    def _variance(self) -> tf.Tensor:
        means = self._components.mean()
        second = self._components.variance() + tf.square(means)
        mean = tf.reduce_sum(self._weights * means, axis=-1)
        return tf.reduce_sum(self._weights * second, axis=-1) - tf.square(mean)
