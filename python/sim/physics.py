"""The constants of the embedded simulator (PHYSICS.md), as one frozen configuration object.

Every number of PHYSICS.md is a field of :class:`PhysicsConfig` with PHYSICS.md's default, so a
study can change one of them (``dataclasses.replace(PhysicsConfig(), jitter_ns=3.0)``) and the
simulator, the numpy oracle and the TensorFlow oracle all follow. Derived quantities (group
velocity, Pandel rate, Cherenkov normalisation, mean acceptance) are properties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np


class PhysicsConfigError(ValueError):
    """A physics constant has a value the simulator cannot work with."""


@dataclass(frozen=True)
class PhysicsConfig:
    """Constants of the toy IceCube physics (units: m, ns, GeV, rad, PE).

    Attributes
    ----------
    speed_of_light_m_per_ns, group_index : float
        Vacuum speed of light and group refractive index of ice; ``c_ice = c / n_group``.
    phase_index : float
        Phase refractive index ``n`` (Cherenkov angle ``acos(1/n)``).
    shower_max_offset_m, shower_max_slope_m : float
        Distance of the light emission point from the vertex along the direction,
        ``s(E) = offset + slope * log10(E / GeV)`` [m].
    photon_yield_pe_m2_per_gev : float
        ``Y`` [PE m^2 / GeV].
    absorption_length_m, scattering_length_m, r0_m : float
        ``L_abs``, ``L_scat`` and the regulator ``r0`` of ``1 / (r^2 + r0^2)`` [m].
    cherenkov_amplitude, cherenkov_slope, cherenkov_exponent, cherenkov_offset : float
        ``f(x) = amplitude * exp(-slope * |x - 1/n|^exponent) - offset`` (clipped at 0).
    acceptance_constant, acceptance_slope : float
        DOM acceptance ``A(u) = constant + slope * (1 - u) / 2``.
    pandel_lambda_m, pandel_tau_ns : float
        Pandel parameters: the delay is Gamma(shape ``r / lambda``, rate
        ``1 / tau + c_ice / L_abs``).
    jitter_ns : float
        Standard deviation of the Gaussian PMT transit-time spread [ns].
    spe_charge_mean, spe_charge_sigma, spe_charge_min : float
        Single-photoelectron charge: Normal(mean, sigma) truncated below at ``min`` [PE].
    merge_ns : float
        A photoelectron joins the current pulse if it arrives at most this long after the
        pulse's first photoelectron [ns].
    readout_window_ns : tuple of float
        Readout window (start, stop) [ns].
    t0_range_ns : tuple of float
        Range of the uniform cascade time ``t0`` [ns].
    vertex_radius_m, vertex_height_m : float
        Vertex cylinder (centred at the origin, axis along z) [m].
    energy_range_gev : tuple of float
        Range of the log-uniform energy spectrum [GeV].
    """

    speed_of_light_m_per_ns: float = 0.299792458
    group_index: float = 1.35634
    phase_index: float = 1.3195
    shower_max_offset_m: float = 0.64
    shower_max_slope_m: float = 0.92
    photon_yield_pe_m2_per_gev: float = 740.0
    absorption_length_m: float = 98.0
    scattering_length_m: float = 12.0
    r0_m: float = 1.0
    cherenkov_amplitude: float = 4.27033
    cherenkov_slope: float = 6.02527
    cherenkov_exponent: float = 0.29887
    cherenkov_offset: float = 0.00103
    acceptance_constant: float = 0.3
    acceptance_slope: float = 0.7
    pandel_lambda_m: float = 33.3
    pandel_tau_ns: float = 557.0
    jitter_ns: float = 2.0
    spe_charge_mean: float = 1.0
    spe_charge_sigma: float = 0.3
    spe_charge_min: float = 0.25
    merge_ns: float = 5.0
    readout_window_ns: tuple[float, float] = (0.0, 20000.0)
    t0_range_ns: tuple[float, float] = (9000.0, 10500.0)
    vertex_radius_m: float = 550.0
    vertex_height_m: float = 1100.0
    energy_range_gev: tuple[float, float] = (1e3, 1e6)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise PhysicsConfigError(
                        f"PhysicsConfig: field '{f.name}' must be a finite number, got {value!r}"
                    )
        positive = (
            "speed_of_light_m_per_ns",
            "group_index",
            "photon_yield_pe_m2_per_gev",
            "absorption_length_m",
            "scattering_length_m",
            "r0_m",
            "cherenkov_amplitude",
            "pandel_lambda_m",
            "pandel_tau_ns",
            "jitter_ns",
            "spe_charge_sigma",
            "vertex_radius_m",
            "vertex_height_m",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise PhysicsConfigError(
                    f"PhysicsConfig: field '{name}' must be > 0, got {getattr(self, name)!r}"
                )
        if self.phase_index <= 1.0:
            raise PhysicsConfigError(
                f"PhysicsConfig: field 'phase_index' must be > 1, got {self.phase_index!r}"
            )
        if self.merge_ns < 0:
            raise PhysicsConfigError(
                f"PhysicsConfig: field 'merge_ns' must be >= 0, got {self.merge_ns!r}"
            )
        if self.acceptance_constant < 0 or self.acceptance_constant + self.acceptance_slope < 0:
            raise PhysicsConfigError(
                "PhysicsConfig: fields 'acceptance_constant', 'acceptance_slope' give a negative "
                f"acceptance ({self.acceptance_constant!r}, {self.acceptance_slope!r})"
            )
        for name in ("readout_window_ns", "t0_range_ns", "energy_range_gev"):
            low, high = getattr(self, name)
            if not low <= high or (name == "readout_window_ns" and not low < high):
                raise PhysicsConfigError(
                    f"PhysicsConfig: field '{name}' must be an increasing pair, got "
                    f"{getattr(self, name)!r}"
                )
        if self.energy_range_gev[0] <= 0:
            raise PhysicsConfigError(
                f"PhysicsConfig: field 'energy_range_gev' must be positive, got "
                f"{self.energy_range_gev!r}"
            )
        if self.spe_charge_min >= self.spe_charge_mean + 5 * self.spe_charge_sigma:
            raise PhysicsConfigError(
                "PhysicsConfig: field 'spe_charge_min' truncates away almost all of the charge "
                f"distribution ({self.spe_charge_min!r})"
            )

    # ------------------------------------------------------------------ derived quantities
    @property
    def c_ice_m_per_ns(self) -> float:
        """Group velocity of light in ice [m/ns]."""
        return self.speed_of_light_m_per_ns / self.group_index

    @property
    def cherenkov_cos_angle(self) -> float:
        """``1 / n``: cosine of the Cherenkov angle."""
        return 1.0 / self.phase_index

    @property
    def pandel_rate_per_ns(self) -> float:
        """Rate ``rho = 1 / tau + c_ice / L_abs`` of the Gamma-distributed delay [1/ns]."""
        return 1.0 / self.pandel_tau_ns + self.c_ice_m_per_ns / self.absorption_length_m

    @property
    def acceptance_mean(self) -> float:
        """Mean of ``A(u)`` over isotropic directions (0.65 by default)."""
        return self.acceptance_constant + 0.5 * self.acceptance_slope

    @property
    def cherenkov_integral(self) -> float:
        """``integral_{-1}^{1} f(x) dx`` (0.16077 by default)."""
        return _cherenkov_integral(
            self.phase_index,
            self.cherenkov_amplitude,
            self.cherenkov_slope,
            self.cherenkov_exponent,
            self.cherenkov_offset,
        )

    @property
    def window_length_ns(self) -> float:
        """Length ``T`` of the readout window [ns]."""
        return float(self.readout_window_ns[1] - self.readout_window_ns[0])


def cherenkov_f(cos_psi: np.ndarray, config: PhysicsConfig) -> np.ndarray:
    """The unnormalised Cherenkov profile ``f(cos psi)``, clipped at 0."""
    x = np.abs(np.asarray(cos_psi, dtype=np.float64) - config.cherenkov_cos_angle)
    value = config.cherenkov_amplitude * np.exp(
        -config.cherenkov_slope * x**config.cherenkov_exponent
    )
    return np.maximum(value - config.cherenkov_offset, 0.0)


@lru_cache(maxsize=32)
def _cherenkov_integral(
    phase_index: float, amplitude: float, slope: float, exponent: float, offset: float
) -> float:
    """Integral of f over [-1, 1] by Gauss-Legendre after removing the cusp at 1/n.

    On each side of the cusp ``x = 1/n`` the substitution ``|x - 1/n| = v^(1/exponent)``
    makes the integrand smooth in ``v``; 200 nodes per side give ~1e-15 relative accuracy (a
    clipped profile, offset > 0 reached inside [-1, 1], is integrated less accurately: ~1e-6).
    """
    nodes, weights = np.polynomial.legendre.leggauss(200)
    cusp = 1.0 / phase_index
    total = 0.0
    for length in (cusp + 1.0, 1.0 - cusp):  # left and right of the cusp
        if length <= 0:
            continue
        v_max = length**exponent
        v = 0.5 * v_max * (nodes + 1.0)
        jacobian = (1.0 / exponent) * v ** (1.0 / exponent - 1.0)
        f = np.maximum(amplitude * np.exp(-slope * v) - offset, 0.0)
        total += 0.5 * v_max * float(np.sum(weights * f * jacobian))
    return total


DEFAULT_PHYSICS = PhysicsConfig()
"""The PHYSICS.md defaults (a frozen singleton, safe as a default argument)."""
