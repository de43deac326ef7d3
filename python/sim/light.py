"""Cascade light: the expected number of photoelectrons per DOM (PHYSICS.md, "Cascade light").

``mu_i = eff_i E Y exp(-r_i / L_abs) / (4 pi (r_i^2 + r0^2))
[(1 - w_i) A_mean + w_i g(cos psi_i) A(u_i)]`` with ``w_i = exp(-r_i / L_scat)``. The light is emitted at the shower maximum, ``s(E)`` metres
along the direction of travel ``d`` from the vertex. All functions are vectorised over a batch
of B hypotheses and D DOMs.
"""

from __future__ import annotations

import numpy as np

from ..detector import DetectorTable
from .physics import DEFAULT_PHYSICS, PhysicsConfig, cherenkov_f

# Columns of a parameter row (egenerator.CASCADE_PARAMETER_NAMES).
X, Y, Z, ZENITH, AZIMUTH, ENERGY, TIME = range(7)


class ParameterShapeError(ValueError):
    """Cascade parameters do not have the shape [B, 7]."""


def as_parameters(parameters: np.ndarray) -> np.ndarray:
    """Check and convert cascade parameters to a float64 [B, 7] array (a [7] row becomes [1, 7])."""
    array = np.asarray(parameters, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 7:
        raise ParameterShapeError(
            f"cascade parameters must have shape [B, 7] (x, y, z, zenith, azimuth, energy, time), "
            f"got {np.shape(parameters)}"
        )
    return array


def direction(zenith_rad: np.ndarray, azimuth_rad: np.ndarray) -> np.ndarray:
    """Unit direction of travel ``d = (-sin z cos a, -sin z sin a, -cos z)``, shape [..., 3]."""
    zenith_rad = np.asarray(zenith_rad, dtype=np.float64)
    azimuth_rad = np.asarray(azimuth_rad, dtype=np.float64)
    sin_zenith = np.sin(zenith_rad)
    return np.stack(
        [-sin_zenith * np.cos(azimuth_rad), -sin_zenith * np.sin(azimuth_rad), -np.cos(zenith_rad)],
        axis=-1,
    )


def shower_max_distance_m(energy_gev: np.ndarray, config: PhysicsConfig) -> np.ndarray:
    """``s(E) = offset + slope log10(E / GeV)``: vertex to emission point along ``d`` [m]."""
    energy_gev = np.asarray(energy_gev, dtype=np.float64)
    return config.shower_max_offset_m + config.shower_max_slope_m * np.log10(energy_gev)


def emission_point(parameters: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS) -> np.ndarray:
    """Light emission point (shower maximum) of each hypothesis, [B, 3] in m."""
    p = as_parameters(parameters)
    d = direction(p[:, ZENITH], p[:, AZIMUTH])
    s = shower_max_distance_m(p[:, ENERGY], config)
    return p[:, X : Z + 1] + s[:, None] * d


def dom_geometry(
    parameters: np.ndarray, dom_positions: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance, Cherenkov angle cosine and incidence of every (hypothesis, DOM) pair.

    Parameters
    ----------
    parameters : [B, 7]
        Cascade parameters.
    dom_positions : [D, 3]
        DOM positions [m].

    Returns
    -------
    distance_m : [B, D]
        ``r_i``: emission point to DOM [m].
    cos_psi : [B, D]
        Cosine of the angle between ``d`` and the vector emission point -> DOM.
    u : [B, D]
        z-component of the unit vector DOM -> emission point. For a DOM exactly at the emission
        point (r = 0) ``cos_psi`` and ``u`` are 0 (the direct light is then irrelevant anyway:
        its weight multiplies a finite amplitude).
    """
    p = as_parameters(parameters)
    positions = np.asarray(dom_positions, dtype=np.float64)
    d = direction(p[:, ZENITH], p[:, AZIMUTH])
    origin = emission_point(p, config)
    delta = positions[None, :, :] - origin[:, None, :]
    distance = np.sqrt(np.einsum("bdk,bdk->bd", delta, delta))
    safe = np.where(distance > 0, distance, 1.0)
    cos_psi = np.where(distance > 0, np.einsum("bdk,bk->bd", delta, d) / safe, 0.0)
    u = np.where(distance > 0, -delta[:, :, 2] / safe, 0.0)
    return distance, cos_psi, u


def cherenkov_profile(cos_psi: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS) -> np.ndarray:
    """``g(cos psi) = 2 f(cos psi) / integral f``: emission profile with mean 1 over the sphere."""
    return 2.0 * cherenkov_f(cos_psi, config) / config.cherenkov_integral


def acceptance(u: np.ndarray, config: PhysicsConfig = DEFAULT_PHYSICS) -> np.ndarray:
    """DOM acceptance ``A(u) = constant + slope (1 - u) / 2`` (u: z of DOM -> emission point)."""
    return config.acceptance_constant + config.acceptance_slope * (1.0 - np.asarray(u)) / 2.0


def photoelectrons_at(
    energy_gev: np.ndarray,
    distance_m: np.ndarray,
    cos_psi: np.ndarray,
    u: np.ndarray,
    efficiency: np.ndarray | float = 1.0,
    config: PhysicsConfig = DEFAULT_PHYSICS,
) -> np.ndarray:
    """``mu`` for given energy and geometry (broadcasting): the formula of PHYSICS.md."""
    energy_gev = np.asarray(energy_gev, dtype=np.float64)
    r = np.asarray(distance_m, dtype=np.float64)
    amplitude = (
        np.asarray(efficiency, dtype=np.float64)
        * energy_gev
        * config.photon_yield_pe_m2_per_gev
        * np.exp(-r / config.absorption_length_m)
        / (4.0 * np.pi * (r * r + config.r0_m**2))
    )
    w = np.exp(-r / config.scattering_length_m)
    direct = cherenkov_profile(cos_psi, config) * acceptance(u, config)
    return amplitude * ((1.0 - w) * config.acceptance_mean + w * direct)


def expected_photoelectrons(
    parameters: np.ndarray, detector: DetectorTable, config: PhysicsConfig = DEFAULT_PHYSICS
) -> np.ndarray:
    """Expected cascade photoelectrons ``mu_i`` per DOM, [B, D] (dead flag ignored).

    Parameters
    ----------
    parameters : [B, 7]
        (x, y, z [m], zenith, azimuth [rad], energy [GeV], time [ns]).
    detector : DetectorTable
        DOM positions and efficiencies.
    config : PhysicsConfig
        Physics constants.
    """
    p = as_parameters(parameters)
    r, cos_psi, u = dom_geometry(p, detector.positions, config)
    return photoelectrons_at(
        p[:, ENERGY, None], r, cos_psi, u, detector.efficiency[None, :], config
    )
