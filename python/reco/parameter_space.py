"""The normalised parameter space in which the minimisers move.

A fit moves an offset vector ``u`` [R, P] around a *centre* (the current or the seed
hypothesis, physical units) and maps it back to physical parameters:

- linear parameters (x, y, z, time, ...): ``p = c + u * scale``;
- log parameters (energy): ``p = c * exp(u * scale)`` (always > 0, ``scale`` in ln units);
- a direction pair (``<prefix>zenith``, ``<prefix>azimuth``, both fitted): ``u`` holds two
  tangent-plane angles (a, b) [rad / scale] around the centre's direction ``n0`` with the
  orthonormal basis ``e1 = dn/dzenith`` and ``e2 = (dn/dazimuth) / sin(zenith)``; the direction is
  the exponential map ``n = cos(r) n0 + sin(r) (a e1 + b e2) / r``, ``r = |(a, b)|``. There is no
  azimuth wrap and no pole singularity; (a, b) are angles on the sphere, so the Hessian in them
  gives the angular covariance directly. A direction angle that is fitted alone is linear.

Fixed parameters are copied from the centre bit for bit. Bounds are applied by projection
(:meth:`ParameterSpace.project`). ``n`` is the direction the particle comes FROM:
``(sin zen cos az, sin zen sin az, cos zen)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

# Typical scales (one unit of u) by parameter-name suffix: about the size of a good fit's
# uncertainty, so that the Hessian in u is of order one.
DEFAULT_SCALES: dict[str, float] = {
    "x": 10.0,  # m
    "y": 10.0,
    "z": 10.0,
    "time": 20.0,  # ns
    "t": 20.0,
    "energy": 0.1,  # ln(E) units
    "zenith": 0.1,  # rad
    "azimuth": 0.1,
}
# Physical bounds by suffix (energy in GeV, positions in m); time bounds are relative to the
# event's readout window (see :func:`event_bounds`).
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "x": (-2000.0, 2000.0),
    "y": (-2000.0, 2000.0),
    "z": (-2000.0, 2000.0),
    "energy": (0.1, 1.0e9),
}
TIME_BOUND_MARGIN_NS = 10000.0
# The chart is centred at least this far from a pole (the azimuth is undefined there).
POLE_GUARD_RAD = 1e-7


class ParameterSpaceError(ValueError):
    """Inconsistent parameter-space settings (unknown names, bad scales or bounds)."""


def suffix_of(name: str) -> str:
    """The physical kind of a parameter: the part after the last ``_`` (``cascade_x`` -> x)."""
    return name.rsplit("_", 1)[-1]


def _is_time(name: str) -> bool:
    return suffix_of(name) in ("time", "t")


@dataclass(frozen=True)
class ParameterSpace:
    """How the P parameters of a hypothesis are normalised, bounded and fixed.

    Attributes
    ----------
    names : tuple of str
    scales : [P] float64
        One unit of ``u`` in physical units (ln units for log parameters, rad for angles).
    log_mask : [P] bool
        Parameters minimised in log (energy).
    free_mask : [P] bool
        Parameters that are fitted; the others stay exactly at the centre value.
    lower, upper : [P] float64
        Physical bounds (time bounds are added per event by :func:`event_bounds`).
    direction_pairs : tuple of (zenith index, azimuth index)
        Pairs minimised on the sphere (both free).
    """

    names: tuple[str, ...]
    scales: np.ndarray
    log_mask: np.ndarray
    free_mask: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    direction_pairs: tuple[tuple[int, int], ...]

    @property
    def num_parameters(self) -> int:
        return len(self.names)

    @property
    def angle_mask(self) -> np.ndarray:
        """[P] bool: zenith/azimuth parameters."""
        return np.array([suffix_of(n) in ("zenith", "azimuth") for n in self.names])

    @property
    def time_mask(self) -> np.ndarray:
        return np.array([_is_time(n) for n in self.names])

    @classmethod
    def build(
        cls,
        parameter_names: Sequence[str],
        *,
        scales: Mapping[str, float] | None = None,
        log_parameters: Sequence[str] | None = None,
        free: Mapping[str, bool] | None = None,
        free_default: bool = True,
        bounds: Mapping[str, Sequence[float]] | None = None,
    ) -> ParameterSpace:
        """Build the space from names and overrides.

        Parameters
        ----------
        parameter_names : sequence of str
        scales : mapping name -> float, optional
            Overrides of the default scales (by full name).
        log_parameters : sequence of str, optional
            Parameters minimised in log; default: names ending with ``energy``.
        free : mapping name -> bool, optional
            ``minimize_parameter_dict``: whether each named parameter is fitted.
        free_default : bool
            ``minimize_parameter_default_value``: whether unnamed parameters are fitted.
        bounds : mapping name -> (low, high), optional
            Physical bounds overriding the defaults (``parameter_boundaries``).
        """
        names = tuple(str(n) for n in parameter_names)
        known = set(names)
        for label, mapping in (("scales", scales), ("minimize_parameter_dict", free)):
            for key in mapping or {}:
                if key not in known:
                    raise ParameterSpaceError(
                        f"{label}: '{key}' is not a parameter of the model {list(names)}"
                    )
        for key in bounds or {}:
            if key not in known:
                raise ParameterSpaceError(
                    f"parameter_boundaries: '{key}' is not a parameter of the model {list(names)}"
                )
        if log_parameters is None:
            log_mask = np.array([suffix_of(n) == "energy" for n in names], dtype=bool)
        else:
            unknown = sorted(set(log_parameters) - known)
            if unknown:
                raise ParameterSpaceError(f"log parameters {unknown} are not in {list(names)}")
            log_mask = np.array([n in set(log_parameters) for n in names], dtype=bool)
        scale = np.array([DEFAULT_SCALES.get(suffix_of(n), 1.0) for n in names], dtype=np.float64)
        for key, value in (scales or {}).items():
            value = float(value)
            if not np.isfinite(value) or value <= 0:
                raise ParameterSpaceError(f"scales: '{key}' must be positive, got {value}")
            scale[names.index(key)] = value
        free_mask = np.array([bool((free or {}).get(n, free_default)) for n in names], dtype=bool)
        lower = np.full(len(names), -np.inf)
        upper = np.full(len(names), np.inf)
        for i, n in enumerate(names):
            if suffix_of(n) in DEFAULT_BOUNDS:
                lower[i], upper[i] = DEFAULT_BOUNDS[suffix_of(n)]
        for key, pair in (bounds or {}).items():
            low, high = (float(v) for v in pair)
            if not low < high:
                raise ParameterSpaceError(
                    f"parameter_boundaries: '{key}' needs low < high, got ({low}, {high})"
                )
            lower[names.index(key)], upper[names.index(key)] = low, high
        for i in np.flatnonzero(log_mask):
            if lower[i] <= 0:
                lower[i] = 1e-12 if upper[i] > 1e-12 else upper[i] / 2
        pairs = []
        for i, n in enumerate(names):
            if suffix_of(n) != "zenith":
                continue
            partner = n[: -len("zenith")] + "azimuth"
            if partner in known:
                j = names.index(partner)
                if free_mask[i] and free_mask[j]:
                    pairs.append((i, j))
        return cls(
            names=names,
            scales=scale,
            log_mask=log_mask,
            free_mask=free_mask,
            lower=lower,
            upper=upper,
            direction_pairs=tuple(pairs),
        )

    # ------------------------------------------------------------------ bounds
    def event_bounds(self, time_window_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-event bounds [B, P]: the static ones plus time within the readout window +-
        ``TIME_BOUND_MARGIN_NS`` (unless a time bound was given explicitly)."""
        window = np.asarray(time_window_ns, dtype=np.float64).reshape(-1, 2)
        lower = np.repeat(self.lower[None], len(window), axis=0)
        upper = np.repeat(self.upper[None], len(window), axis=0)
        for i in np.flatnonzero(self.time_mask):
            if np.isinf(self.lower[i]):
                lower[:, i] = window[:, 0] - TIME_BOUND_MARGIN_NS
            if np.isinf(self.upper[i]):
                upper[:, i] = window[:, 1] + TIME_BOUND_MARGIN_NS
        return lower, upper

    # ------------------------------------------------------------------ TF maps
    def _guard_center(self, center: tf.Tensor) -> tf.Tensor:
        """Keep chart centres off the poles (only the zenith of direction pairs)."""
        if not self.direction_pairs:
            return center
        p = self.num_parameters
        zen_mask = np.zeros(p, dtype=bool)
        zen_mask[[i for i, _ in self.direction_pairs]] = True
        guarded = tf.clip_by_value(center, POLE_GUARD_RAD, np.pi - POLE_GUARD_RAD)
        return tf.where(tf.constant(zen_mask), guarded, center)

    def to_physical(self, center: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """Physical parameters [R, P] (float64) of offsets ``u`` [R, P] around ``center``.

        Differentiable (to any order) in ``u`` everywhere, including ``u = 0``. Fixed
        parameters are copied from ``center`` unchanged; no bounds are applied.
        """
        center = tf.convert_to_tensor(center, tf.float64)
        u = tf.convert_to_tensor(u, tf.float64)
        chart_center = self._guard_center(center)
        scales = tf.constant(self.scales)
        step = u * scales
        linear = chart_center + step
        logged = chart_center * tf.exp(step)
        out = tf.where(tf.constant(self.log_mask), logged, linear)
        columns = tf.unstack(out, num=self.num_parameters, axis=1)
        for i_zen, i_az in self.direction_pairs:
            zen, az = chart_center[:, i_zen], chart_center[:, i_az]
            zen_new, az_new = _exp_map_direction(zen, az, step[:, i_zen], step[:, i_az])
            columns[i_zen] = zen_new
            columns[i_az] = az_new
        out = tf.stack(columns, axis=1)
        return tf.where(tf.constant(self.free_mask), out, center)

    def project(self, parameters: tf.Tensor, lower: tf.Tensor, upper: tf.Tensor) -> tf.Tensor:
        """Clip to the bounds (free parameters only; fixed ones are left as they are)."""
        clipped = tf.clip_by_value(parameters, lower, upper)
        return tf.where(tf.constant(self.free_mask), clipped, parameters)

    def representation(self, parameters: tf.Tensor) -> tf.Tensor:
        """The parameters in which covariances are reported: log parameters as ln(value)."""
        logged = tf.math.log(tf.maximum(parameters, 1e-300))
        return tf.where(tf.constant(self.log_mask), logged, parameters)

    def representation_names(self) -> tuple[str, ...]:
        """Names of :meth:`representation` (``log_<name>`` for log parameters)."""
        return tuple(
            f"log_{n}" if log else n for n, log in zip(self.names, self.log_mask, strict=True)
        )

    def normalise_angles(self, parameters: np.ndarray) -> np.ndarray:
        """Zenith in [0, pi], azimuth in [0, 2 pi) for every direction pair (numpy)."""
        out = np.array(parameters, dtype=np.float64, copy=True)
        for i, n in enumerate(self.names):
            if suffix_of(n) != "zenith":
                continue
            partner = n[: -len("zenith")] + "azimuth"
            if partner not in self.names:
                continue
            j = self.names.index(partner)
            zen, az = out[..., i], out[..., j]
            vec = np.stack(
                [np.sin(zen) * np.cos(az), np.sin(zen) * np.sin(az), np.cos(zen)], axis=-1
            )
            finite = np.all(np.isfinite(vec), axis=-1)
            new_zen = np.arctan2(np.hypot(vec[..., 0], vec[..., 1]), vec[..., 2])
            new_az = np.mod(np.arctan2(vec[..., 1], vec[..., 0]), 2 * np.pi)
            # keep the given azimuth where it is already in range and the zenith is a pole
            new_az = np.where(new_az >= 2 * np.pi, 0.0, new_az)
            out[..., i] = np.where(finite, new_zen, zen)
            out[..., j] = np.where(finite, new_az, az)
        return out


def direction_vector(zenith, azimuth):
    """Unit vector the particle comes from, ``[..., 3]`` (numpy or TF, float64)."""
    if isinstance(zenith, tf.Tensor) or isinstance(azimuth, tf.Tensor):
        s = tf.sin(zenith)
        return tf.stack([s * tf.cos(azimuth), s * tf.sin(azimuth), tf.cos(zenith)], axis=-1)
    zenith, azimuth = np.asarray(zenith), np.asarray(azimuth)
    s = np.sin(zenith)
    return np.stack([s * np.cos(azimuth), s * np.sin(azimuth), np.cos(zenith)], axis=-1)


def _exp_map_direction(zen, az, a, b):
    """Directions after moving by tangent angles (a, b) [rad] from (zen, az); smooth at 0."""
    sz, cz, sa, ca = tf.sin(zen), tf.cos(zen), tf.sin(az), tf.cos(az)
    n0 = tf.stack([sz * ca, sz * sa, cz], axis=-1)
    e1 = tf.stack([cz * ca, cz * sa, -sz], axis=-1)
    e2 = tf.stack([-sa, ca, tf.zeros_like(sa)], axis=-1)
    r2 = a * a + b * b
    small = r2 < 1e-8
    r2_safe = tf.where(small, tf.ones_like(r2), r2)
    r = tf.sqrt(r2_safe)
    cos_r = tf.where(small, 1.0 - r2 / 2.0 + r2 * r2 / 24.0, tf.cos(r))
    sinc_r = tf.where(small, 1.0 - r2 / 6.0 + r2 * r2 / 120.0, tf.sin(r) / r)
    n = cos_r[:, None] * n0 + sinc_r[:, None] * (a[:, None] * e1 + b[:, None] * e2)
    rho2 = n[:, 0] * n[:, 0] + n[:, 1] * n[:, 1]
    zen_new = tf.atan2(tf.sqrt(rho2 + 1e-300), n[:, 2])
    az_new = tf.atan2(n[:, 1], n[:, 0])
    return zen_new, az_new
