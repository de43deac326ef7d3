"""The data transformation ("trafo"): normalisation statistics of parameters and DOM charges.

Parameters are normalised as ``y = (f(x) - mean) / std`` with ``f = log1p`` for the
parameters flagged by ``trafo_log`` (energies by default) and the identity otherwise; ``mean``
and ``std`` are the population mean and standard deviation (ddof 0) of ``f(x)`` over the trafo
events, and ``std`` includes ``norm_constant``. The per-DOM statistics are the mean and std of
``log1p(dom_charge)`` of every DOM over the same events (all events, valid or not; event
weights are not used).

Statistics are accumulated batch by batch in float64 with the pairwise (Chan et al.) update
of count, mean and sum of squared deviations, each batch reduced with vectorised numpy.

Saved as ``trafo.yaml`` (settings, parameter names, flags, versions; human readable) and
``trafo.npz`` (arrays; loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import yaml

from .. import __version__
from .batch import EventBatch
from .settings import trafo_log_flags

TRAFO_FORMAT_VERSION = 1
TRAFO_YAML = "trafo.yaml"
TRAFO_NPZ = "trafo.npz"
_ARRAYS = ("parameter_mean", "parameter_std", "dom_charge_log_mean", "dom_charge_log_std")


class TrafoError(ValueError):
    """A trafo cannot be computed, saved or loaded (message names the file / parameter)."""


def _is_tensorflow(value) -> bool:
    return type(value).__module__.startswith(("tensorflow", "keras"))


class RunningMoments:
    """Count, mean and sum of squared deviations per column, merged batch by batch (float64)."""

    def __init__(self, num_columns: int) -> None:
        self.count = 0
        self.mean = np.zeros(num_columns, dtype=np.float64)
        self.m2 = np.zeros(num_columns, dtype=np.float64)

    def update(self, values: np.ndarray) -> None:
        """Add rows ``values`` [n, C]."""
        values = np.asarray(values, dtype=np.float64)
        n = values.shape[0]
        if n == 0:
            return
        batch_mean = values.mean(axis=0)
        batch_m2 = ((values - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + batch_m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof 0)."""
        if self.count == 0:
            return np.zeros_like(self.mean)
        return np.sqrt(self.m2 / self.count)


@dataclass
class DataTrafo:
    """Normalisation of parameters and DOM charges (see the module docstring).

    Attributes
    ----------
    parameter_names : tuple of str
    log_flags : [P] bool
        Parameters transformed with log1p before normalising.
    parameter_mean, parameter_std : [P] float64
        Statistics of ``f(x)``; ``parameter_std`` includes ``norm_constant``.
    dom_charge_log_mean, dom_charge_log_std : [D] float64
        Statistics of ``log1p(dom_charge)`` per DOM; the std includes ``norm_constant``.
    num_events : int
        Events the statistics were computed from.
    norm_constant : float
    settings : dict
        The ``data_trafo_settings`` used (saved for provenance).
    """

    parameter_names: tuple[str, ...]
    log_flags: np.ndarray
    parameter_mean: np.ndarray
    parameter_std: np.ndarray
    dom_charge_log_mean: np.ndarray
    dom_charge_log_std: np.ndarray
    num_events: int
    norm_constant: float = 1e-6
    settings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parameter_names = tuple(self.parameter_names)
        self.log_flags = np.asarray(self.log_flags, dtype=bool)
        for name in _ARRAYS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        num = len(self.parameter_names)
        for name in ("log_flags", "parameter_mean", "parameter_std"):
            if getattr(self, name).shape != (num,):
                raise TrafoError(
                    f"trafo: '{name}' has shape {getattr(self, name).shape}, expected ({num},)"
                )
        if self.dom_charge_log_mean.shape != self.dom_charge_log_std.shape:
            raise TrafoError("trafo: DOM charge mean and std have different shapes")
        for name in ("parameter_std", "dom_charge_log_std"):
            values = getattr(self, name)
            if np.any(~np.isfinite(values)) or np.any(values <= 0):
                raise TrafoError(f"trafo: '{name}' must be finite and > 0")

    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def num_doms(self) -> int:
        return int(self.dom_charge_log_mean.shape[0])

    # ------------------------------------------------------------------ building
    @classmethod
    def from_batches(
        cls,
        batches: Iterable[EventBatch],
        parameter_names: Sequence[str],
        trafo_log=None,
        norm_constant: float = 1e-6,
        num_batches: int | None = None,
        settings: Mapping | None = None,
    ) -> DataTrafo:
        """Compute the statistics over (at most ``num_batches``) batches in one pass.

        Parameters
        ----------
        batches : iterable of EventBatch
            Their ``parameters`` columns follow ``parameter_names``.
        parameter_names : sequence of str
        trafo_log : see :func:`egenerator.data.settings.trafo_log_flags`
        norm_constant : float
            Added to every std.
        num_batches : int, optional
            Stop after this many batches.
        settings : mapping, optional
            Saved with the trafo.
        """
        names = tuple(parameter_names)
        flags = trafo_log_flags(trafo_log, names)
        param_moments = RunningMoments(len(names))
        dom_moments: RunningMoments | None = None
        used = 0
        for batch in batches:
            if num_batches is not None and used >= num_batches:
                break
            params = np.asarray(batch.parameters, dtype=np.float64)
            if params.shape[1] != len(names):
                raise TrafoError(
                    f"trafo: batches have {params.shape[1]} parameters, expected {len(names)} "
                    f"({list(names)})"
                )
            param_moments.update(cls._forward_f(params, flags, names))
            if dom_moments is None:
                dom_moments = RunningMoments(batch.num_doms)
            dom_moments.update(np.log1p(np.asarray(batch.dom_charge, dtype=np.float64)))
            used += 1
        if dom_moments is None or param_moments.count == 0:
            raise TrafoError("trafo: no events to compute the statistics from")
        all_settings = dict(settings or {})
        all_settings["num_batches_used"] = used
        return cls(
            parameter_names=names,
            log_flags=flags,
            parameter_mean=param_moments.mean,
            parameter_std=param_moments.std + norm_constant,
            dom_charge_log_mean=dom_moments.mean,
            dom_charge_log_std=dom_moments.std + norm_constant,
            num_events=param_moments.count,
            norm_constant=float(norm_constant),
            settings=all_settings,
        )

    @staticmethod
    def _forward_f(params: np.ndarray, flags: np.ndarray, names) -> np.ndarray:
        logged = params[:, flags]
        bad = np.argwhere(~(logged > -1.0))
        if len(bad):
            row, col = bad[0]
            name = np.asarray(names)[flags][col]
            raise TrafoError(
                f"trafo: parameter '{name}' is log-transformed but has value "
                f"{logged[row, col]} (must be > -1)"
            )
        out = params.copy()
        out[:, flags] = np.log1p(logged)
        return out

    # ------------------------------------------------------------------ transforms
    def _constants(self, like, tf):
        dtype = like.dtype
        return (
            tf.constant(self.parameter_mean, dtype=dtype),
            tf.constant(self.parameter_std, dtype=dtype),
            tf.constant(self.log_flags),
        )

    def transform_parameters(self, parameters):
        """Physical parameters [..., P] -> normalised (numpy array or TF tensor in, same out)."""
        if _is_tensorflow(parameters):
            import tensorflow as tf

            mean, std, flags = self._constants(parameters, tf)
            safe = tf.where(flags, parameters, tf.zeros_like(parameters))
            f = tf.where(flags, tf.math.log1p(safe), parameters)
            return (f - mean) / std
        x = np.asarray(parameters, dtype=np.float64)
        f = np.where(self.log_flags, np.log1p(np.where(self.log_flags, x, 0.0)), x)
        return (f - self.parameter_mean) / self.parameter_std

    def inverse_transform_parameters(self, normalised):
        """Normalised parameters [..., P] -> physical (numpy or TF, like the input)."""
        if _is_tensorflow(normalised):
            import tensorflow as tf

            mean, std, flags = self._constants(normalised, tf)
            f = normalised * std + mean
            return tf.where(flags, tf.math.expm1(tf.where(flags, f, tf.zeros_like(f))), f)
        y = np.asarray(normalised, dtype=np.float64)
        f = y * self.parameter_std + self.parameter_mean
        return np.where(self.log_flags, np.expm1(np.where(self.log_flags, f, 0.0)), f)

    def jacobian_diagonal(self, parameters, keep_log: bool = False):
        """d(normalised)/d(parameter) [..., P] at physical ``parameters`` (the map is diagonal).

        With ``keep_log`` the derivative is taken with respect to ``f(x)`` (log1p of the log
        parameters), i.e. 1/std for every parameter.
        """
        if _is_tensorflow(parameters):
            import tensorflow as tf

            _, std, flags = self._constants(parameters, tf)
            if keep_log:
                return tf.ones_like(parameters) / std
            return tf.where(flags, 1.0 / ((1.0 + parameters) * std), tf.ones_like(parameters) / std)
        x = np.asarray(parameters, dtype=np.float64)
        if keep_log:
            return np.ones_like(x) / self.parameter_std
        return np.where(
            self.log_flags, 1.0 / ((1.0 + x) * self.parameter_std), 1.0 / self.parameter_std
        )

    def transform_covariance(self, covariance, parameters, keep_log: bool = False):
        """Covariance [..., P, P] of physical parameters -> of normalised parameters.

        ``C_y = J C_x J`` with ``J = diag(jacobian_diagonal(parameters))`` (first order).
        With ``keep_log`` the input covariance is that of ``f(x)`` (log1p for log parameters).
        """
        j = self.jacobian_diagonal(parameters, keep_log)
        return self._scale(covariance, j)

    def inverse_transform_covariance(self, covariance, parameters, keep_log: bool = False):
        """Covariance [..., P, P] of normalised parameters -> of physical parameters.

        ``parameters`` are the physical values where the Jacobian is evaluated. With
        ``keep_log`` the result is the covariance of ``f(x)`` (log1p for the log parameters).
        """
        j = self.jacobian_diagonal(parameters, keep_log)
        return self._scale(covariance, 1.0 / j)

    @staticmethod
    def _scale(covariance, diag):
        if _is_tensorflow(covariance) or _is_tensorflow(diag):
            import tensorflow as tf

            diag = tf.cast(diag, covariance.dtype)
            return covariance * diag[..., :, None] * diag[..., None, :]
        cov = np.asarray(covariance, dtype=np.float64)
        d = np.asarray(diag, dtype=np.float64)
        return cov * d[..., :, None] * d[..., None, :]

    def transform_dom_charge(self, dom_charge):
        """DOM charges [..., D] -> ``(log1p(q) - mean_d) / std_d`` (numpy or TF)."""
        if _is_tensorflow(dom_charge):
            import tensorflow as tf

            mean = tf.constant(self.dom_charge_log_mean, dtype=dom_charge.dtype)
            std = tf.constant(self.dom_charge_log_std, dtype=dom_charge.dtype)
            return (tf.math.log1p(dom_charge) - mean) / std
        q = np.asarray(dom_charge, dtype=np.float64)
        return (np.log1p(q) - self.dom_charge_log_mean) / self.dom_charge_log_std

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> str:
        """Write ``trafo.yaml`` and ``trafo.npz`` into ``directory`` (created); returns it."""
        directory = os.fspath(directory)
        yaml_path = os.path.join(directory, TRAFO_YAML)
        if os.path.exists(yaml_path) and not overwrite:
            raise TrafoError(f"{yaml_path}: a trafo exists already (pass overwrite=True)")
        os.makedirs(directory, exist_ok=True)
        description = {
            "class": "DataTrafo",
            "format_version": TRAFO_FORMAT_VERSION,
            "parameter_names": list(self.parameter_names),
            "trafo_log": [bool(f) for f in self.log_flags],
            "norm_constant": float(self.norm_constant),
            "num_events": int(self.num_events),
            "num_doms": self.num_doms,
            "settings": _plain(self.settings),
            "versions": _versions(),
        }
        np.savez(
            os.path.join(directory, TRAFO_NPZ),
            log_flags=self.log_flags,
            **{name: getattr(self, name) for name in _ARRAYS},
        )
        with open(yaml_path, "w") as handle:
            yaml.safe_dump(description, handle, sort_keys=False)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> DataTrafo:
        """Read a trafo written by :meth:`save`."""
        directory = os.fspath(directory)
        yaml_path = os.path.join(directory, TRAFO_YAML)
        npz_path = os.path.join(directory, TRAFO_NPZ)
        for path in (yaml_path, npz_path):
            if not os.path.exists(path):
                raise TrafoError(f"{path}: missing (not a trafo directory?)")
        with open(yaml_path) as handle:
            description = yaml.safe_load(handle)
        if not isinstance(description, dict) or description.get("class") != "DataTrafo":
            raise TrafoError(f"{yaml_path}: not a DataTrafo description")
        version = description.get("format_version")
        if version != TRAFO_FORMAT_VERSION:
            raise TrafoError(
                f"{yaml_path}: format_version {version!r} is not supported "
                f"(expected {TRAFO_FORMAT_VERSION})"
            )
        with np.load(npz_path, allow_pickle=False) as arrays:
            missing = [k for k in (*_ARRAYS, "log_flags") if k not in arrays.files]
            if missing:
                raise TrafoError(f"{npz_path}: missing arrays {missing}")
            values = {k: arrays[k] for k in (*_ARRAYS, "log_flags")}
        names = description.get("parameter_names")
        if list(np.asarray(values["log_flags"], bool)) != list(description.get("trafo_log", [])):
            raise TrafoError(f"{directory}: trafo_log of {TRAFO_YAML} and {TRAFO_NPZ} disagree")
        try:
            return cls(
                parameter_names=tuple(names),
                num_events=int(description["num_events"]),
                norm_constant=float(description["norm_constant"]),
                settings=dict(description.get("settings") or {}),
                **values,
            )
        except (TrafoError, KeyError, TypeError) as error:
            raise TrafoError(f"{directory}: inconsistent trafo files: {error}") from None


def _plain(value):
    """Plain YAML-safe copy (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _versions() -> dict:
    from importlib import metadata

    versions = {
        "egenerator": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    for package in ("tensorflow", "tensorflow-cpu"):
        try:
            versions["tensorflow"] = metadata.version(package)
            break
        except metadata.PackageNotFoundError:
            continue
    return versions
