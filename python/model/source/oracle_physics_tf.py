"""TensorFlow twin of the simulator physics: expected photoelectrons and the delay density.

Pure functions in float64, differentiable with respect to the cascade parameters, delays and
distances; they mirror :mod:`egenerator.sim.light` and :mod:`egenerator.sim.timing` operation
for operation (same regimes, nodes and series; see the docstring of ``timing`` for the
algorithm) and agree with them to ~1e-12 relative. Regimes are selected with ``tf.where`` after
clamping each branch's inputs into its own domain, so the branch that is not taken never produces
NaN or inf values or gradients.

TensorFlow has no ``erfcx`` or ``log_ndtr``: the log Mills ratio ``log(Phi(z) / phi(z))`` uses
``erfc`` for ``z >= -20`` and its asymptotic series (8 terms, < 1e-15 relative) below; ``log Phi``
uses ``erfc`` down to -37 and a 3-term asymptotic series beyond (where Phi < 1e-300).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ...sim import timing as _timing
from ...sim.physics import DEFAULT_PHYSICS, PhysicsConfig

DTYPE = tf.float64
_Q = _timing.quadrature_constants()
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_MILLS_SWITCH = -20.0
_NDTR_SWITCH = -37.0


def _c(values) -> tf.Tensor:
    return tf.constant(np.asarray(values, dtype=np.float64), dtype=DTYPE)


def as_float64(value) -> tf.Tensor:
    """A float64 tensor: tensors are cast, Python and numpy values converted without rounding."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, DTYPE)
    return tf.convert_to_tensor(np.asarray(value, dtype=np.float64), dtype=DTYPE)


# ----------------------------------------------------------------------------- light
def direction_tf(zenith_rad: tf.Tensor, azimuth_rad: tf.Tensor) -> tf.Tensor:
    """Direction of travel ``(-sin z cos a, -sin z sin a, -cos z)``, shape [..., 3]."""
    sin_zenith = tf.sin(zenith_rad)
    return tf.stack(
        [-sin_zenith * tf.cos(azimuth_rad), -sin_zenith * tf.sin(azimuth_rad), -tf.cos(zenith_rad)],
        axis=-1,
    )


def emission_point_tf(parameters: tf.Tensor, config: PhysicsConfig = DEFAULT_PHYSICS) -> tf.Tensor:
    """Shower-maximum emission point [B, 3] of cascade parameters [B, 7]."""
    p = as_float64(parameters)
    d = direction_tf(p[:, 3], p[:, 4])
    shift = config.shower_max_offset_m + config.shower_max_slope_m * (
        tf.math.log(p[:, 5]) / np.log(10.0)
    )
    return p[:, 0:3] + shift[:, None] * d


def _safe_norm(delta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(|delta|, positive mask) with a finite gradient at delta = 0."""
    squared = tf.reduce_sum(tf.square(delta), axis=-1)
    positive = squared > 0
    safe_squared = tf.where(positive, squared, tf.ones_like(squared))
    return tf.where(positive, tf.sqrt(safe_squared), tf.zeros_like(squared)), positive


def cherenkov_profile_tf(cos_psi: tf.Tensor, config: PhysicsConfig = DEFAULT_PHYSICS) -> tf.Tensor:
    """``g(cos psi) = 2 f(cos psi) / integral f`` (f clipped at 0)."""
    distance = tf.abs(cos_psi - config.cherenkov_cos_angle)
    # |x|^a has an infinite derivative at 0: evaluate it away from 0 and patch the cusp.
    at_cusp = distance <= 0
    safe = tf.where(at_cusp, tf.ones_like(distance), distance)
    power = tf.where(at_cusp, tf.zeros_like(distance), safe**config.cherenkov_exponent)
    f = config.cherenkov_amplitude * tf.exp(-config.cherenkov_slope * power)
    f = tf.maximum(f - config.cherenkov_offset, 0.0)
    return 2.0 * f / config.cherenkov_integral


def expected_photoelectrons_tf(
    parameters: tf.Tensor,
    dom_positions: tf.Tensor,
    dom_efficiency: tf.Tensor,
    config: PhysicsConfig = DEFAULT_PHYSICS,
) -> tf.Tensor:
    """Expected cascade photoelectrons ``mu_i`` [B, D] (no dead flag, no window).

    Parameters
    ----------
    parameters : [B, 7] float64
        (x, y, z [m], zenith, azimuth [rad], energy [GeV], time [ns]).
    dom_positions : [D, 3] float64
    dom_efficiency : [D] float64
    config : PhysicsConfig
    """
    p = as_float64(parameters)
    positions = as_float64(dom_positions)
    efficiency = as_float64(dom_efficiency)
    d = direction_tf(p[:, 3], p[:, 4])
    origin = emission_point_tf(p, config)
    delta = positions[None, :, :] - origin[:, None, :]
    r, positive = _safe_norm(delta)
    safe_r = tf.where(positive, r, tf.ones_like(r))
    cos_psi = tf.where(positive, tf.einsum("bdk,bk->bd", delta, d) / safe_r, tf.zeros_like(r))
    u = tf.where(positive, -delta[:, :, 2] / safe_r, tf.zeros_like(r))
    amplitude = (
        efficiency[None, :]
        * p[:, 5:6]
        * config.photon_yield_pe_m2_per_gev
        * tf.exp(-r / config.absorption_length_m)
        / (4.0 * np.pi * (r * r + config.r0_m**2))
    )
    w = tf.exp(-r / config.scattering_length_m)
    accept = config.acceptance_constant + config.acceptance_slope * (1.0 - u) / 2.0
    direct = cherenkov_profile_tf(cos_psi, config) * accept
    return amplitude * ((1.0 - w) * config.acceptance_mean + w * direct)


# ----------------------------------------------------------------------------- timing helpers
def log_mills_ratio_tf(z: tf.Tensor) -> tf.Tensor:
    """``log(Phi(z) / phi(z))`` for z below ~26."""
    use_erfc = z >= _MILLS_SWITCH
    z_hi = tf.where(use_erfc, z, tf.fill(tf.shape(z), tf.constant(0.0, DTYPE)))
    z_lo = tf.where(use_erfc, tf.fill(tf.shape(z), tf.constant(2 * _MILLS_SWITCH, DTYPE)), z)
    by_erfc = (
        tf.math.log(0.5 * tf.math.erfc(-z_hi / np.sqrt(2.0))) + 0.5 * z_hi * z_hi + _LOG_SQRT_2PI
    )
    inv2 = 1.0 / (z_lo * z_lo)
    series = tf.ones_like(z_lo)
    term = tf.ones_like(z_lo)
    for n in range(1, 9):
        term = -term * (2 * n - 1) * inv2
        series = series + term
    asymptotic = -tf.math.log(-z_lo) + tf.math.log(series)
    return tf.where(use_erfc, by_erfc, asymptotic)


def log_ndtr_tf(z: tf.Tensor) -> tf.Tensor:
    """``log Phi(z)``: erfc down to z = -37 (erfc(26.2) ~ 1e-300), a 3-term asymptotic series
    below (relative error < 1e-7 there, where Phi < 1e-300)."""
    use_erfc = z >= _NDTR_SWITCH
    z_hi = tf.where(use_erfc, z, tf.zeros_like(z))
    z_lo = tf.where(use_erfc, tf.fill(tf.shape(z), tf.constant(_NDTR_SWITCH, DTYPE)), z)
    by_erfc = tf.math.log(0.5 * tf.math.erfc(-z_hi / np.sqrt(2.0)))
    inv2 = 1.0 / (z_lo * z_lo)
    asymptotic = (
        -0.5 * z_lo * z_lo
        - tf.math.log(-z_lo)
        - _LOG_SQRT_2PI
        + tf.math.log1p(inv2 * (-1.0 + 3.0 * inv2))
    )
    return tf.where(use_erfc, by_erfc, asymptotic)


def _logaddexp(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    peak = tf.maximum(a, b)
    return peak + tf.math.log(tf.exp(a - peak) + tf.exp(b - peak))


def _mode_lower_tf(mu: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    km1 = tf.maximum(k - 1.0, 0.0)
    root = tf.sqrt(mu * mu + 4.0 * km1)
    stable_negative = 2.0 * km1 / tf.maximum(root - mu, 1e-300)
    return tf.where(mu >= 0, 0.5 * (mu + root), stable_negative)


def _near_pdf_sum_tf(mu: tf.Tensor, k: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    a = mu * eps
    b = eps * eps
    c_prev = tf.ones_like(mu)
    c = a
    total = c_prev / k + c / (k + 1.0)
    for m in range(1, _timing.NEAR_TERMS - 1):
        c_prev, c = c, (a * c - b * c_prev) / (m + 1.0)
        total = total + c / (k + m + 1.0)
    return total


def _near_cdf_sum_tf(
    nu: tf.Tensor, k: tf.Tensor, eps: tf.Tensor, beta: float, log_r_nu: tf.Tensor
) -> tf.Tensor:
    a = nu * eps
    b = eps * eps
    coefficients = [tf.exp(log_r_nu)]
    h_prev = tf.zeros_like(nu)
    h = tf.ones_like(nu)
    for m in range(1, _timing.NEAR_TERMS):
        coefficients.append(-(eps / m) * h)
        h_prev, h = h, (a * h - b * h_prev) / m
    x = -beta * eps
    total = tf.zeros_like(nu)
    for m in range(_timing.NEAR_TERMS):
        acc = coefficients[m]
        factor = tf.ones_like(nu)
        for i in range(1, min(m, _timing.CDF_BETA_TERMS - 1) + 1):
            factor = factor * x / i
            acc = acc + factor * coefficients[m - i]
        total = total + acc / (k + m)
    return total


def _lower_log_integral_tf(nu: tf.Tensor, k: tf.Tensor, beta: float, what: str) -> tf.Tensor:
    mu = nu - beta
    neg = tf.maximum(-mu, 0.0)
    eps = tf.minimum(_timing.NEAR_EPS_SCALE / tf.maximum(neg, 1e-300), _timing.NEAR_EPS_MAX)
    mode = _mode_lower_tf(mu, k)
    d_exp = _timing.TAIL_DROP_EXP / (neg + tf.sqrt(neg * neg + _timing.TAIL_DROP_EXP))
    upper = tf.minimum(
        tf.maximum(mode, eps) + _timing.TAIL_DROP, tf.maximum(2.0 * mode, eps) + d_exp
    )
    lower = eps
    half = 0.5 * (upper - lower)
    y = lower[:, None] + half[:, None] * (_c(_Q["far_x"])[None, :] + 1.0)
    log_w = tf.math.log(half)[:, None] + tf.math.log(_c(_Q["far_w"]))[None, :]
    log_y_terms = (k[:, None] - 1.0) * tf.math.log(y) + log_w
    log_eps_k = k * tf.math.log(eps)
    if what == "pdf":
        log_far = tf.reduce_logsumexp(log_y_terms + mu[:, None] * y - 0.5 * y * y, axis=1)
        log_near = log_eps_k + tf.math.log(_near_pdf_sum_tf(mu, k, eps))
        return _logaddexp(log_near, log_far)
    log_far = tf.reduce_logsumexp(log_y_terms - beta * y + log_ndtr_tf(nu[:, None] - y), axis=1)
    near = _near_cdf_sum_tf(nu, k, eps, beta, log_mills_ratio_tf(nu))
    log_phi = -0.5 * nu * nu - _LOG_SQRT_2PI
    log_near = log_phi + log_eps_k + tf.math.log(tf.maximum(near, 1e-300))
    return _logaddexp(log_near, log_far)


def _upper_log_pdf_integral_tf(nu: tf.Tensor, k: tf.Tensor, beta: float) -> tf.Tensor:
    mu = nu - beta
    km1 = k - 1.0
    root = tf.sqrt(mu * mu + 4.0 * km1)
    mode = 0.5 * (mu + root)
    nu_minus_mode = beta - 2.0 * km1 / (mu + root)
    width = 1.0 / tf.sqrt(1.0 + km1 / (mode * mode))
    t = _c(_Q["gh_t"])[None, :]
    y = mode[:, None] + width[:, None] * t
    gap = nu_minus_mode[:, None] - width[:, None] * t
    log_terms = (
        km1[:, None] * tf.math.log(y)
        - beta * y
        - 0.5 * gap * gap
        + 0.5 * t * t
        + tf.math.log(_c(_Q["gh_w"]))[None, :]
    )
    return tf.math.log(width) + tf.reduce_logsumexp(log_terms, axis=1)


def _upper_cdf_tf(nu: tf.Tensor, k: tf.Tensor, beta: float, log_prefactor: tf.Tensor) -> tf.Tensor:
    km1 = (k - 1.0)[:, None]
    t = _c(_Q["tail_t"])[None, :]
    plus = nu[:, None] + t
    minus = nu[:, None] - t
    g_plus = tf.exp(log_prefactor[:, None] + km1 * tf.math.log(plus) - beta * plus)
    g_minus = tf.exp(log_prefactor[:, None] + km1 * tf.math.log(minus) - beta * minus)
    correction = tf.reduce_sum(_c(_Q["tail_v"])[None, :] * (g_plus - g_minus), axis=1)
    return tf.math.igamma(k, beta * nu) + correction


def _flatten(delay_ns, distance_m):
    delay = as_float64(delay_ns)
    distance = as_float64(distance_m)
    shape = tf.broadcast_dynamic_shape(tf.shape(delay), tf.shape(distance))
    delay = tf.reshape(tf.broadcast_to(delay, shape), [-1])
    distance = tf.reshape(tf.broadcast_to(distance, shape), [-1])
    return delay, distance, shape


def _evaluate_tf(delay_ns, distance_m, config: PhysicsConfig, what: str) -> tf.Tensor:
    delay, distance, shape = _flatten(delay_ns, distance_m)
    sigma = config.jitter_ns
    beta = config.pandel_rate_per_ns * sigma
    nu = delay / sigma
    k = tf.maximum(distance / config.pandel_lambda_m, _timing.MIN_SHAPE)
    log_prefactor = k * np.log(beta) - tf.math.lgamma(k)
    split = _timing.SPLIT_MU + beta
    upper = nu >= split
    nu_lo = tf.where(upper, tf.fill(tf.shape(nu), tf.constant(split - 1.0, DTYPE)), nu)
    nu_up = tf.where(upper, nu, tf.fill(tf.shape(nu), tf.constant(split + 1.0, DTYPE)))
    if what == "cdf":
        lower_value = tf.exp(log_prefactor + _lower_log_integral_tf(nu_lo, k, beta, "cdf"))
        upper_value = _upper_cdf_tf(nu_up, k, beta, log_prefactor)
        value = tf.clip_by_value(tf.where(upper, upper_value, lower_value), 0.0, 1.0)
    else:
        log_phi = -0.5 * nu_lo * nu_lo - _LOG_SQRT_2PI
        log_integral = _lower_log_integral_tf(nu_lo, k, beta, "pdf")
        lower_value = log_prefactor - np.log(sigma) + log_phi + log_integral
        upper_value = log_prefactor - np.log(sigma) + _upper_log_pdf_integral_tf(nu_up, k, beta)
        value = tf.where(upper, upper_value, lower_value)
    return tf.reshape(value, shape)


# ----------------------------------------------------------------------------- public timing
def delay_log_pdf_tf(
    delay_ns: tf.Tensor, distance_m: tf.Tensor, config: PhysicsConfig = DEFAULT_PHYSICS
) -> tf.Tensor:
    """Log density of the delay ``delta + jitter`` after ``t0 + r / c_ice`` (broadcasting)."""
    return _evaluate_tf(delay_ns, distance_m, config, "log_pdf")


def delay_pdf_tf(
    delay_ns: tf.Tensor, distance_m: tf.Tensor, config: PhysicsConfig = DEFAULT_PHYSICS
) -> tf.Tensor:
    """Density [1/ns] of the delay (broadcasting)."""
    return tf.exp(delay_log_pdf_tf(delay_ns, distance_m, config))


def delay_cdf_tf(
    delay_ns: tf.Tensor, distance_m: tf.Tensor, config: PhysicsConfig = DEFAULT_PHYSICS
) -> tf.Tensor:
    """CDF ``P(delta + jitter <= delay)`` (broadcasting)."""
    return _evaluate_tf(delay_ns, distance_m, config, "cdf")
