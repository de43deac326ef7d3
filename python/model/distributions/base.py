"""The Distribution base class (TensorFlow-Probability-like, without depending on TFP).

Subclasses implement private hooks (``_log_prob``, ``_cdf``, ``_log_cdf``, ``_survival``,
``_log_survival``, ``_sample``, ``_mean``, ``_variance``); the public methods convert their
arguments to the distribution's dtype and fall back on each other where a hook is missing
(``prob = exp(log_prob)``, ``log_cdf = log(cdf)``, ``survival = 1 - cdf``, ...).

Parameters broadcast elementwise against each other and against ``x``. The dtype is the one of
the parameters: a float tf.Tensor or numpy array decides it (they must agree); plain Python
numbers alone give float32 (the TFP convention). Sampling is stateless: the seed is an int or a
TensorFlow seed pair ``[2]``, and the same seed gives the same sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

SeedLike = int | Sequence[int] | np.ndarray | tf.Tensor


class DistributionError(ValueError):
    """Invalid parameters or arguments of a distribution."""


def infer_dtype(values: Sequence[Any], dtype: tf.DType | str | None = None) -> tf.DType:
    """The common float dtype of parameter values.

    Parameters
    ----------
    values : sequence
        Parameter values (tensors, numpy arrays, Python numbers).
    dtype : tf.DType or str, optional
        Forces the dtype; otherwise float tensors/arrays decide (they must agree) and
        Python numbers alone give float32.
    """
    if dtype is not None:
        dtype = tf.as_dtype(dtype)
        if not dtype.is_floating:
            raise DistributionError(f"dtype must be a float dtype, got {dtype.name}")
        return dtype
    found: set[tf.DType] = set()
    for value in values:
        if isinstance(value, tf.Tensor | tf.Variable):
            candidate = value.dtype
        elif isinstance(value, np.ndarray | np.floating):
            candidate = tf.as_dtype(value.dtype)
        else:
            continue
        if candidate.is_floating:
            found.add(candidate)
    if len(found) > 1:
        names = sorted(d.name for d in found)
        raise DistributionError(f"parameters have different float dtypes: {names}")
    return found.pop() if found else tf.float32


def convert(value: Any, dtype: tf.DType) -> tf.Tensor:
    """``value`` as a tensor of ``dtype`` (integer and other float tensors are cast)."""
    if isinstance(value, tf.Tensor | tf.Variable):
        return value if value.dtype == dtype else tf.cast(value, dtype)
    return tf.convert_to_tensor(value, dtype=dtype)


def sanitize_seed(seed: SeedLike) -> tf.Tensor:
    """A stateless seed pair ``[2]`` int64 from an int or a pair.

    Raises
    ------
    DistributionError
        If ``seed`` is None (sampling must be deterministic) or not an int or a pair.
    """
    if seed is None:
        raise DistributionError("sample: seed is required (int or seed pair); got None")
    if isinstance(seed, int | np.integer):
        return tf.constant([int(seed), 0], dtype=tf.int64)
    tensor = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if tensor.shape.rank != 1 or (tensor.shape[0] is not None and tensor.shape[0] != 2):
        raise DistributionError(f"sample: seed must be an int or a pair [2], got {seed!r}")
    return tensor


def split_seed(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """``num`` independent seed pairs derived from ``seed``."""
    seeds = tf.random.experimental.stateless_split(seed, num=num)
    return [seeds[i] for i in range(num)]


def log1p_over_x(x: tf.Tensor) -> tf.Tensor:
    """``log1p(x) / x`` for x >= 0, smooth through x = 0 (value 1 there)."""
    small = tf.abs(x) < 1e-4
    safe = tf.where(small, tf.ones_like(x), x)
    series = 1.0 - x / 2.0 + tf.square(x) / 3.0
    return tf.where(small, series, tf.math.log1p(safe) / safe)


class Distribution:
    """Base class of the egenerator distributions.

    Parameters
    ----------
    parameters : dict
        Parameter name -> value (already converted to tensors of one dtype by the subclass).
    name : str
        A name for messages.
    """

    def __init__(self, parameters: Mapping[str, tf.Tensor], name: str):
        self._parameters = dict(parameters)
        self._name = name
        dtypes = {p.dtype for p in self._parameters.values()}
        if len(dtypes) != 1:
            raise DistributionError(f"{name}: parameters must share one dtype, got {dtypes}")
        self._dtype = dtypes.pop()

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self) -> tf.DType:
        """The float dtype of parameters and results."""
        return self._dtype

    @property
    def parameters(self) -> dict[str, tf.Tensor]:
        """The parameters (tensors of ``dtype``)."""
        return dict(self._parameters)

    @property
    def batch_shape(self) -> tf.TensorShape:
        """Static broadcast shape of the parameters."""
        shape = tf.TensorShape([])
        for value in self._parameters.values():
            shape = tf.broadcast_static_shape(shape, value.shape)
        return shape

    def batch_shape_tensor(self) -> tf.Tensor:
        """Dynamic broadcast shape of the parameters."""
        shape = tf.constant([], dtype=tf.int32)
        for value in self._parameters.values():
            shape = tf.broadcast_dynamic_shape(shape, tf.shape(value))
        return shape

    def _x(self, x: Any) -> tf.Tensor:
        return convert(x, self._dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} batch_shape={self.batch_shape} dtype={self.dtype.name}>"

    # ------------------------------------------------------------------ public API
    def log_prob(self, x: Any) -> tf.Tensor:
        """Log of the density (continuous) or probability mass (discrete) at ``x``."""
        return self._log_prob(self._x(x))

    def prob(self, x: Any) -> tf.Tensor:
        """Density (continuous) or probability mass (discrete) at ``x``."""
        return self._prob(self._x(x))

    def cdf(self, x: Any) -> tf.Tensor:
        """P(X <= x)."""
        return self._cdf(self._x(x))

    def log_cdf(self, x: Any) -> tf.Tensor:
        """log P(X <= x), accurate in the left tail where the subclass provides it."""
        return self._log_cdf(self._x(x))

    def survival(self, x: Any) -> tf.Tensor:
        """P(X > x) = 1 - cdf(x), accurate in the right tail where the subclass provides it."""
        return self._survival(self._x(x))

    def log_survival(self, x: Any) -> tf.Tensor:
        """log P(X > x)."""
        return self._log_survival(self._x(x))

    def integral(self, a: Any, b: Any) -> tf.Tensor:
        """Probability mass in [a, b] (0 where b < a)."""
        return self._integral(self._x(a), self._x(b))

    def sample(self, sample_shape: Sequence[int] | int = (), seed: SeedLike = None) -> tf.Tensor:
        """Samples of shape ``sample_shape + batch_shape`` (deterministic given ``seed``)."""
        if isinstance(sample_shape, int | np.integer):
            sample_shape = (int(sample_shape),)
        shape = tf.concat(
            [tf.constant(list(sample_shape), dtype=tf.int32), self.batch_shape_tensor()], axis=0
        )
        return self._sample(shape, sanitize_seed(seed))

    def mean(self) -> tf.Tensor:
        """Expectation value (broadcast to the batch shape)."""
        return self._mean()

    def variance(self) -> tf.Tensor:
        """Variance (broadcast to the batch shape)."""
        return self._variance()

    def stddev(self) -> tf.Tensor:
        """Standard deviation."""
        return tf.sqrt(self._variance())

    # ------------------------------------------------------------------ default hooks
    def _log_prob(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def _prob(self, x: tf.Tensor) -> tf.Tensor:
        return tf.exp(self._log_prob(x))

    def _cdf(self, x: tf.Tensor) -> tf.Tensor:
        return tf.exp(self._log_cdf(x))

    def _log_cdf(self, x: tf.Tensor) -> tf.Tensor:
        return tf.math.log(self._cdf(x))

    def _survival(self, x: tf.Tensor) -> tf.Tensor:
        return 1.0 - self._cdf(x)

    def _log_survival(self, x: tf.Tensor) -> tf.Tensor:
        return tf.math.log(self._survival(x))

    def _integral(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        # take the difference on the side of the median where it does not cancel
        cdf_a, cdf_b = self._cdf(a), self._cdf(b)
        left = cdf_b - cdf_a
        right = self._survival(a) - self._survival(b)
        return tf.maximum(tf.where(cdf_a > 0.5, right, left), 0.0)

    def _sample(self, shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement sample")

    def _mean(self) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    def _variance(self) -> tf.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")


class DiscreteDistribution(Distribution):
    """A distribution on the non-negative integers whose ``log_prob`` is continuous in k.

    ``cdf(x)`` is P(X <= floor(x)); ``integral(a, b)`` the mass of the integers in [a, b].
    """

    def _integral(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        below = self._cdf(tf.math.ceil(a) - 1.0)
        return tf.maximum(self._cdf(b) - below, 0.0)
