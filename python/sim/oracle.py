"""The exact likelihood ingredients of the embedded simulator ("oracle"), in numpy.

For cascade parameters the oracle gives, per DOM, the expected recorded charge ``mu_i m_i + nu_i``
(``m_i``: probability that a cascade photoelectron arrives inside the readout window; ``nu_i``:
expected noise photoelectrons) and the density of one pulse time: the charge-weighted mixture of
the convolved Pandel density (truncated to the window) and the uniform noise density,

``p_i(t) = [mu_i p_delay(t - t0 - r_i / c_ice) + nu_i / T] / (mu_i m_i + nu_i)``, t in the window.

The dead flag of the detector is ignored here (the likelihood excludes bad DOMs); the simulator
records nothing for them. The TensorFlow version used for reconstruction is
``egenerator.model.source.oracle`` (built on ``oracle_physics_tf``).
"""

from __future__ import annotations

import numpy as np

from ..detector import DetectorTable
from .light import ENERGY, TIME, as_parameters, direction, emission_point, photoelectrons_at
from .physics import DEFAULT_PHYSICS, PhysicsConfig
from .timing import delay_cdf, delay_pdf


class OracleInputError(ValueError):
    """Inconsistent inputs to the oracle (shapes, indices, windows)."""


def readout_windows(
    num_events: int, config: PhysicsConfig, window_ns: np.ndarray | None = None
) -> np.ndarray:
    """Per-event readout windows [B, 2]: ``window_ns`` ([2] or [B, 2]) or the config's."""
    if window_ns is None:
        window_ns = config.readout_window_ns
    window = np.asarray(window_ns, dtype=np.float64)
    if window.ndim == 1:
        window = np.broadcast_to(window, (num_events, 2))
    if window.shape != (num_events, 2):
        raise OracleInputError(
            f"window_ns must have shape [2] or [{num_events}, 2], got {np.shape(window_ns)}"
        )
    if not np.all(window[:, 1] > window[:, 0]):
        bad = int(np.flatnonzero(~(window[:, 1] > window[:, 0]))[0])
        raise OracleInputError(f"window_ns row {bad} is not increasing: {window[bad].tolist()}")
    return window


def _pair_quantities(
    parameters: np.ndarray,
    detector: DetectorTable,
    event_index: np.ndarray,
    dom_index: np.ndarray,
    config: PhysicsConfig,
    window: np.ndarray,
) -> dict[str, np.ndarray]:
    """mu, distance, geometric time, window mass and noise expectation for (event, DOM) pairs."""
    p = parameters
    event_index = np.asarray(event_index, dtype=np.int64)
    dom_index = np.asarray(dom_index, dtype=np.int64)
    if event_index.size and (event_index.min() < 0 or event_index.max() >= len(p)):
        raise OracleInputError(
            f"event_index out of range [0, {len(p)}): {event_index.min()}..{event_index.max()}"
        )
    if dom_index.size and (dom_index.min() < 0 or dom_index.max() >= detector.num_doms):
        raise OracleInputError(
            f"dom_index out of range [0, {detector.num_doms}): {dom_index.min()}..{dom_index.max()}"
        )
    origin = emission_point(p, config)[event_index]
    d = direction(p[event_index, 3], p[event_index, 4])
    delta = detector.positions[dom_index] - origin
    r = np.sqrt(np.sum(delta * delta, axis=1))
    safe = np.where(r > 0, r, 1.0)
    cos_psi = np.where(r > 0, np.sum(delta * d, axis=1) / safe, 0.0)
    u = np.where(r > 0, -delta[:, 2] / safe, 0.0)
    mu = photoelectrons_at(
        p[event_index, ENERGY], r, cos_psi, u, detector.efficiency[dom_index], config
    )
    geometric = p[event_index, TIME] + r / config.c_ice_m_per_ns
    start = window[event_index, 0]
    stop = window[event_index, 1]
    cdf_start = delay_cdf(start - geometric, r, config)
    mass = np.maximum(delay_cdf(stop - geometric, r, config) - cdf_start, 0.0)
    length = stop - start
    noise = detector.noise_rate_hz[dom_index] * 1e-9 * length
    return {
        "mu": mu,
        "distance": r,
        "geometric": geometric,
        "cdf_start": cdf_start,
        "mass": mass,
        "noise": noise,
        "start": start,
        "stop": stop,
        "length": length,
    }


def expected_charge(
    parameters: np.ndarray,
    detector: DetectorTable,
    config: PhysicsConfig = DEFAULT_PHYSICS,
    window_ns: np.ndarray | None = None,
) -> np.ndarray:
    """Expected number of recorded photoelectrons per DOM [B, D]: ``mu_i m_i + nu_i``.

    This is PHYSICS.md's "expected charge" (charge counted in photoelectrons), the quantity the
    Poisson / negative-binomial charge terms of the likelihood use.

    Parameters
    ----------
    parameters : [B, 7]
        Cascade parameters.
    detector : DetectorTable
    config : PhysicsConfig
    window_ns : [2] or [B, 2], optional
        Readout windows (default ``config.readout_window_ns``).

    Notes
    -----
    The mean recorded charge in PE units is this times :func:`mean_spe_charge` (1.0053 for the
    default Normal(1, 0.3) truncated at 0.25): the truncation shifts the mean single-PE charge.
    """
    p = as_parameters(parameters)
    window = readout_windows(len(p), config, window_ns)
    b, d = np.meshgrid(np.arange(len(p)), np.arange(detector.num_doms), indexing="ij")
    q = _pair_quantities(p, detector, b.ravel(), d.ravel(), config, window)
    expected = q["mu"] * q["mass"] + q["noise"]
    return expected.reshape(len(p), detector.num_doms)


def mean_spe_charge(config: PhysicsConfig = DEFAULT_PHYSICS) -> float:
    """Mean of the truncated-normal single-photoelectron charge [PE] (1.0053 by default)."""
    from scipy import stats

    a = (config.spe_charge_min - config.spe_charge_mean) / config.spe_charge_sigma
    return float(
        stats.truncnorm.mean(a, np.inf, loc=config.spe_charge_mean, scale=config.spe_charge_sigma)
    )


def _mixture(
    time_ns: np.ndarray,
    event_index: np.ndarray,
    dom_index: np.ndarray,
    parameters: np.ndarray,
    detector: DetectorTable,
    config: PhysicsConfig,
    window_ns: np.ndarray | None,
    what: str,
) -> np.ndarray:
    p = as_parameters(parameters)
    window = readout_windows(len(p), config, window_ns)
    time_ns = np.asarray(time_ns, dtype=np.float64)
    if not (time_ns.shape == np.shape(event_index) == np.shape(dom_index)) or time_ns.ndim != 1:
        raise OracleInputError(
            "time_ns, event_index and dom_index must be 1-d arrays of one length, got shapes "
            f"{time_ns.shape}, {np.shape(event_index)}, {np.shape(dom_index)}"
        )
    q = _pair_quantities(p, detector, event_index, dom_index, config, window)
    total = q["mu"] * q["mass"] + q["noise"]
    inside = (time_ns >= q["start"]) & (time_ns <= q["stop"])
    t = np.clip(time_ns, q["start"], q["stop"])
    if what == "pdf":
        signal = q["mu"] * delay_pdf(t - q["geometric"], q["distance"], config)
        value = (signal + q["noise"] / q["length"]) / total
        return np.where(inside, value, 0.0)
    signal = q["mu"] * np.maximum(
        delay_cdf(t - q["geometric"], q["distance"], config) - q["cdf_start"], 0.0
    )
    value = (signal + q["noise"] * (t - q["start"]) / q["length"]) / total
    return np.clip(value, 0.0, 1.0)


def time_pdf(
    time_ns: np.ndarray,
    event_index: np.ndarray,
    dom_index: np.ndarray,
    parameters: np.ndarray,
    detector: DetectorTable,
    config: PhysicsConfig = DEFAULT_PHYSICS,
    window_ns: np.ndarray | None = None,
) -> np.ndarray:
    """Density [1/ns] of one pulse time at flat (time, event, DOM) triples [N].

    The charge-weighted mixture of the convolved Pandel density and the uniform noise density,
    both truncated to the readout window; 0 outside the window.
    """
    return _mixture(time_ns, event_index, dom_index, parameters, detector, config, window_ns, "pdf")


def time_cdf(
    time_ns: np.ndarray,
    event_index: np.ndarray,
    dom_index: np.ndarray,
    parameters: np.ndarray,
    detector: DetectorTable,
    config: PhysicsConfig = DEFAULT_PHYSICS,
    window_ns: np.ndarray | None = None,
) -> np.ndarray:
    """CDF of one pulse time from the window start at flat (time, event, DOM) triples [N]."""
    return _mixture(time_ns, event_index, dom_index, parameters, detector, config, window_ns, "cdf")
