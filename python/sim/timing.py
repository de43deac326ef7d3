r"""Photon arrival-time delays: the Pandel (Gamma) delay convolved with the Gaussian PMT jitter.

A photoelectron at distance ``r`` arrives ``t = t0 + r / c_ice + delta + jitter`` with
``delta ~ Gamma(shape k = r / lambda, rate rho)`` and ``jitter ~ Normal(0, sigma)``. This module
gives the density and CDF of the *delay* ``s = delta + jitter`` (time after the geometric arrival
``t0 + r / c_ice``) for any delay and distance, to ~1e-12 relative (measured against
``scipy.integrate.quad`` convolutions and ``scipy.special.pbdv``).

Algorithm
---------
Work in units of the jitter: ``nu = s / sigma``, ``beta = rho sigma``, ``y = x / sigma`` for the
Gamma variable ``x``, ``mu = nu - beta``. Then (``phi``, ``Phi``: standard normal density, CDF)

.. math::

    p(s) = \frac{\beta^k}{\sigma \Gamma(k)} \int_0^\infty y^{k-1} e^{-\beta y} \phi(\nu - y)\,dy
         = \frac{\beta^k \phi(\nu)}{\sigma \Gamma(k)} \int_0^\infty y^{k-1} e^{\mu y - y^2/2}\,dy,

    F(s) = \frac{\beta^k}{\Gamma(k)} \int_0^\infty y^{k-1} e^{-\beta y} \Phi(\nu - y)\,dy
         = \frac{\beta^k \phi(\nu)}{\Gamma(k)} \int_0^\infty y^{k-1} e^{\mu y - y^2/2}
           R(\nu - y)\,dy,

with the Mills ratio ``R(z) = Phi(z) / phi(z)``. (The pdf integral is ``Gamma(k) exp(mu^2/4)
D_{-k}(-mu)``, a parabolic cylinder function.) Two regimes, split at ``mu = 10`` (20 ns):

*Near the geometric arrival and before it* (``mu < 10``). Split ``[0, inf)`` at ``eps`` and at an
upper limit ``B`` beyond which the integrand is below ``exp(-45)`` of its maximum.

- ``[0, eps]`` holds the integrable singularity ``y^(k-1)`` (k < 1 close to a DOM: at 0.5 m,
  k = 0.015 and 92 % of the delays are below 1 ns). The smooth factor is expanded in a Taylor
  series and integrated exactly against ``y^(k-1)``: ``exp(mu y - y^2/2) = sum_m He_m(mu)
  y^m / m!`` (probabilists' Hermite polynomials, by their recurrence, scaled by ``eps^m / m!``),
  so ``int_0^eps = eps^k sum_m c_m / (k + m)`` with 40 terms. For the CDF the expansion of
  ``exp(-beta y) Phi(nu - y) / phi(nu)`` is ``R(nu) - sum_{m>=1} He_{m-1}(nu) y^m / m!`` times
  the series of ``exp(-beta y)`` (Cauchy product, 5 terms: ``beta eps <= 0.004``).
  ``eps = min(0.5, 3 / |mu|)`` keeps ``|mu| eps <= 3``, so the alternating series for negative
  ``mu`` loses at most ~e^6 to cancellation.
- ``[eps, B]``: 48-node Gauss-Legendre in ``y`` on the log-integrand (log-sum-exp; for the CDF
  with ``log Phi(nu - y)``). ``B`` comes from bounds on the log-integrand
  ``l(y) = (k-1) log y + mu y - y^2/2``: beyond the mode ``Y``
  (``Y = (mu + sqrt(mu^2 + 4(k-1)))/2`` for ``k >= 1``, ``max(mu, 0)`` otherwise)
  ``l'(y) <= -(y - Y)``, so ``l`` has dropped by 45 at ``Y + 9.5``; for ``mu < 0`` it also
  falls at least at rate ``|mu|/2`` beyond ``2Y``, which gives a shorter interval
  ``2Y + 90 / (|mu| + sqrt(mu^2 + 180))`` (the scale ``1/|mu|`` of a far-early delay).

*Well after the geometric arrival* (``mu >= 10``): the Gaussian lies far from the singularity.

- pdf: Laplace-centred Gauss-Hermite (20 nodes) on ``(k-1) log y - beta y - (nu - y)^2 / 2``
  around its mode ``y* = (mu + sqrt(mu^2 + 4(k-1)))/2`` with the Laplace width; ``nu - y``
  is formed from the stable ``nu - y*`` so there is no cancellation for huge ``nu``.
- CDF: ``F(s) = P(k, rho s) + sigma int_0^inf [g(s + sigma t) - g(s - sigma t)] (1 - Phi(t)) dt``
  (``P``: regularised lower incomplete gamma, ``g``: Gamma density), the correction by 32-node
  Gauss-Legendre on ``t in [0, 8.5]`` (``1 - Phi(8.5) ~ 1e-17``).

Everything is in log space where magnitudes can over- or underflow: far before the arrival the
density is ``exp(-nu^2/2)``-small but its log is finite and smooth; far after it the density
falls like the Gamma tail. The CDF is set to 0 below ``nu = -38.5`` (it is at most
``Phi(nu) < 1e-323`` there). The shape is clamped to ``k >= 1e-9`` (a DOM at the emission point).
Only elementwise operations with fixed nodes are used, so the same algorithm runs in TensorFlow
(``egenerator.model.source.oracle_physics_tf``), differentiable in delay and distance.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .physics import DEFAULT_PHYSICS, PhysicsConfig

# ----------------------------------------------------------------------------- constants
SPLIT_MU = 10.0
"""Regime boundary in ``mu = s / sigma - rho sigma``."""
MIN_SHAPE = 1e-9
"""Smallest Gamma shape used (distance 3.3e-8 m at lambda = 33.3 m)."""
NEAR_EPS_MAX = 0.5
NEAR_EPS_SCALE = 3.0
NEAR_TERMS = 40
CDF_BETA_TERMS = 5
TAIL_DROP = 9.5  # sqrt(2 * 45)
TAIL_DROP_EXP = 180.0  # 4 * 45
UPPER_TAIL_T = 8.5
CDF_ZERO_NU = -38.5
"""Below ``nu = s / sigma = -38.5`` the CDF (at most ``Phi(nu)``) is 0 in float64."""
_BLOCK = 1 << 15

_FAR_X, _FAR_W = np.polynomial.legendre.leggauss(48)
_GH_T, _GH_W = np.polynomial.hermite_e.hermegauss(20)
_GH_W = _GH_W / np.sqrt(2.0 * np.pi)  # weights of a standard normal expectation
_TAIL_X, _TAIL_W = np.polynomial.legendre.leggauss(32)
_TAIL_T = 0.5 * UPPER_TAIL_T * (_TAIL_X + 1.0)
_TAIL_V = 0.5 * UPPER_TAIL_T * _TAIL_W * 0.5 * special.erfc(_TAIL_T / np.sqrt(2.0))
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def quadrature_constants() -> dict[str, np.ndarray]:
    """The fixed nodes and weights of the algorithm (shared with the TensorFlow port)."""
    return {
        "far_x": _FAR_X.copy(),
        "far_w": _FAR_W.copy(),
        "gh_t": _GH_T.copy(),
        "gh_w": _GH_W.copy(),
        "tail_t": _TAIL_T.copy(),
        "tail_v": _TAIL_V.copy(),
    }


# ----------------------------------------------------------------------------- helpers
def pandel_shape(distance_m: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS) -> np.ndarray:
    """Gamma shape ``k = r / lambda`` (clamped to >= 1e-9)."""
    return np.maximum(np.asarray(distance_m, dtype=np.float64) / config.pandel_lambda_m, MIN_SHAPE)


def log_mills_ratio(z: np.ndarray) -> np.ndarray:
    """``log(Phi(z) / phi(z))`` for ``z`` below ~26 (overflows beyond, not needed here)."""
    z = np.asarray(z, dtype=np.float64)
    return np.log(special.erfcx(-z / np.sqrt(2.0))) + 0.5 * np.log(np.pi / 2.0)


def _logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(a - peak), axis=axis))


def _mode_lower(mu: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Mode of ``(k-1) log y + mu y - y^2/2`` on y >= 0 (k >= 1), else ``max(mu, 0)``."""
    km1 = np.maximum(k - 1.0, 0.0)
    root = np.sqrt(mu * mu + 4.0 * km1)
    stable_negative = 2.0 * km1 / np.maximum(root - mu, 1e-300)
    return np.where(mu >= 0, 0.5 * (mu + root), stable_negative)


def _lower_geometry(mu: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eps, A, B) of the lower regime: series on [0, eps], Gauss-Legendre on [A, B]."""
    neg = np.maximum(-mu, 0.0)
    eps = np.minimum(NEAR_EPS_MAX, NEAR_EPS_SCALE / np.maximum(neg, 1e-300))
    mode = _mode_lower(mu, k)
    d_exp = TAIL_DROP_EXP / (neg + np.sqrt(neg * neg + TAIL_DROP_EXP))
    upper = np.minimum(np.maximum(mode, eps) + TAIL_DROP, np.maximum(2.0 * mode, eps) + d_exp)
    return eps, eps, upper


def _near_pdf_sum(mu: np.ndarray, k: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """``sum_m c_m / (k + m)`` with ``c_m = He_m(mu) eps^m / m!``."""
    a = mu * eps
    b = eps * eps
    c_prev = np.ones_like(mu)
    c = a.copy()
    total = c_prev / k + c / (k + 1.0)
    for m in range(1, NEAR_TERMS - 1):
        c_prev, c = c, (a * c - b * c_prev) / (m + 1.0)
        total = total + c / (k + m + 1.0)
    return total


def _near_cdf_sum(
    nu: np.ndarray, k: np.ndarray, eps: np.ndarray, beta: float, log_r_nu: np.ndarray
) -> np.ndarray:
    """``sum_m a_m / (k + m)``: Taylor coefficients (scaled by eps^m) of
    ``exp(-beta y) Phi(nu - y) / phi(nu)`` integrated against ``y^(k-1)`` on [0, eps]."""
    a = nu * eps
    b = eps * eps
    # b_m = -(eps / m) He_{m-1}(nu) eps^(m-1) / (m-1)!  (m >= 1), b_0 = R(nu)
    coefficients = [np.exp(log_r_nu)]
    h_prev = np.zeros_like(nu)
    h = np.ones_like(nu)  # He_0 eps^0 / 0!
    for m in range(1, NEAR_TERMS):
        coefficients.append(-(eps / m) * h)
        h_prev, h = h, (a * h - b * h_prev) / m
    x = -beta * eps
    total = np.zeros_like(nu)
    for m in range(NEAR_TERMS):
        acc = coefficients[m].copy()
        factor = 1.0
        for i in range(1, min(m, CDF_BETA_TERMS - 1) + 1):
            factor = factor * x / i
            acc = acc + factor * coefficients[m - i]
        total = total + acc / (k + m)
    return total


# ----------------------------------------------------------------------------- regimes
def _lower_log_integral(nu: np.ndarray, k: np.ndarray, beta: float, what: str) -> np.ndarray:
    """Lower regime. ``what == "pdf"``: log ``int y^(k-1) exp(mu y - y^2/2) dy`` (the pdf
    integral without its ``phi(nu)`` factor); ``"cdf"``: log ``int y^(k-1) exp(-beta y)
    Phi(nu - y) dy``."""
    mu = nu - beta
    eps, lower, upper = _lower_geometry(mu, k)
    half = 0.5 * (upper - lower)
    y = lower[:, None] + half[:, None] * (_FAR_X[None, :] + 1.0)
    log_w = np.log(half)[:, None] + np.log(_FAR_W)[None, :]
    log_y_terms = (k[:, None] - 1.0) * np.log(y) + log_w
    log_eps_k = k * np.log(eps)
    if what == "pdf":
        log_far = _logsumexp(log_y_terms + mu[:, None] * y - 0.5 * y * y)
        log_near = log_eps_k + np.log(_near_pdf_sum(mu, k, eps))
        return np.logaddexp(log_near, log_far)
    log_far = _logsumexp(log_y_terms - beta * y + special.log_ndtr(nu[:, None] - y))
    near = _near_cdf_sum(nu, k, eps, beta, log_mills_ratio(nu))
    log_phi = -0.5 * nu * nu - _LOG_SQRT_2PI
    log_near = log_phi + log_eps_k + np.log(np.maximum(near, 1e-300))
    return np.logaddexp(log_near, log_far)


def _upper_log_pdf_integral(nu: np.ndarray, k: np.ndarray, beta: float) -> np.ndarray:
    """log ``int y^(k-1) exp(-beta y) phi(nu - y) dy`` by Laplace-centred Gauss-Hermite."""
    mu = nu - beta
    km1 = k - 1.0
    root = np.sqrt(mu * mu + 4.0 * km1)
    mode = 0.5 * (mu + root)
    nu_minus_mode = beta - 2.0 * km1 / (mu + root)
    width = 1.0 / np.sqrt(1.0 + km1 / (mode * mode))
    y = mode[:, None] + width[:, None] * _GH_T[None, :]
    gap = nu_minus_mode[:, None] - width[:, None] * _GH_T[None, :]
    log_terms = (
        km1[:, None] * np.log(y)
        - beta * y
        - 0.5 * gap * gap
        + 0.5 * _GH_T[None, :] ** 2
        + np.log(_GH_W)[None, :]
    )
    return np.log(width) + _logsumexp(log_terms)


def _upper_cdf(nu: np.ndarray, k: np.ndarray, beta: float, log_prefactor: np.ndarray) -> np.ndarray:
    """``P(k, beta nu) + beta^k / Gamma(k) sum_j V_j [h(nu + t_j) - h(nu - t_j)]``."""
    km1 = (k - 1.0)[:, None]
    plus = nu[:, None] + _TAIL_T[None, :]
    minus = nu[:, None] - _TAIL_T[None, :]
    g_plus = np.exp(log_prefactor[:, None] + km1 * np.log(plus) - beta * plus)
    g_minus = np.exp(log_prefactor[:, None] + km1 * np.log(minus) - beta * minus)
    correction = np.sum(_TAIL_V[None, :] * (g_plus - g_minus), axis=1)
    return special.gammainc(k, beta * nu) + correction


# ----------------------------------------------------------------------------- public API
def _prepare(
    delay_ns: np.ndarray, distance_m: np.ndarray, config: PhysicsConfig
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    delay, distance = np.broadcast_arrays(
        np.asarray(delay_ns, dtype=np.float64), np.asarray(distance_m, dtype=np.float64)
    )
    shape = delay.shape
    nu = delay.ravel() / config.jitter_ns
    k = pandel_shape(distance.ravel(), config)
    return nu, k, shape


def _evaluate(
    delay_ns: np.ndarray, distance_m: np.ndarray, config: PhysicsConfig, what: str
) -> np.ndarray:
    nu, k, shape = _prepare(delay_ns, distance_m, config)
    beta = config.pandel_rate_per_ns * config.jitter_ns
    sigma = config.jitter_ns
    out = np.empty_like(nu)
    for start in range(0, nu.size, _BLOCK):
        sl = slice(start, start + _BLOCK)
        nu_b, k_b = nu[sl], k[sl]
        log_prefactor = k_b * np.log(beta) - special.gammaln(k_b)
        upper = nu_b - beta >= SPLIT_MU
        res = np.empty_like(nu_b)
        lo = ~upper
        if what == "cdf":
            # F <= Phi(nu) < 1e-323 there: skip the work (float64 would give 0 or a denormal)
            res[nu_b < CDF_ZERO_NU] = 0.0
            lo &= nu_b >= CDF_ZERO_NU
        if np.any(lo):
            if what == "cdf":
                log_integral = _lower_log_integral(nu_b[lo], k_b[lo], beta, "cdf")
                res[lo] = np.exp(log_prefactor[lo] + log_integral)
            else:
                log_phi = -0.5 * nu_b[lo] ** 2 - _LOG_SQRT_2PI
                log_integral = _lower_log_integral(nu_b[lo], k_b[lo], beta, "pdf")
                res[lo] = log_prefactor[lo] - np.log(sigma) + log_phi + log_integral
        if np.any(upper):
            if what == "cdf":
                res[upper] = _upper_cdf(nu_b[upper], k_b[upper], beta, log_prefactor[upper])
            else:
                res[upper] = (
                    log_prefactor[upper]
                    - np.log(sigma)
                    + _upper_log_pdf_integral(nu_b[upper], k_b[upper], beta)
                )
        out[sl] = res
    if what == "cdf":
        out = np.clip(out, 0.0, 1.0)
    return out.reshape(shape)


def delay_log_pdf(
    delay_ns: np.ndarray, distance_m: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS
) -> np.ndarray:
    """Log density [log(1/ns)] of the delay ``delta + jitter`` after ``t0 + r / c_ice``.

    Broadcasts ``delay_ns`` against ``distance_m``. Finite everywhere (far tails give large
    negative values, never -inf or NaN).
    """
    return _evaluate(delay_ns, distance_m, config, "log_pdf")


def delay_pdf(
    delay_ns: np.ndarray, distance_m: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS
) -> np.ndarray:
    """Density [1/ns] of the delay ``delta + jitter`` (see :func:`delay_log_pdf`)."""
    return np.exp(delay_log_pdf(delay_ns, distance_m, config))


def delay_cdf(
    delay_ns: np.ndarray, distance_m: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS
) -> np.ndarray:
    """CDF ``P(delta + jitter <= delay)`` (broadcasting)."""
    return _evaluate(delay_ns, distance_m, config, "cdf")
