"""CascadeSource: a network shared over DOMs predicting charge and arrival times of a cascade.

Old class path: ``egenerator.model.source.cascade.default.DefaultCascadeModel``.

Parameters (physical units, no transformation): x, y, z [m], zenith, azimuth [rad], energy [GeV],
time [ns]. The network sees, per (hypothesis, DOM), features of the relative geometry, each scaled
by fixed physical scales to O(1) (no data-dependent normalisation, so the source works on any
detector table and needs no trafo):

==================  ===================================================================
feature             definition
==================  ===================================================================
log_distance        log(1 + r_e / 10 m) / 3, r_e = distance emission point -> DOM
distance            r_e / 300 m
log_vertex_dist     log(1 + r_v / 10 m) / 3, r_v = distance vertex -> DOM
cos_psi             cos of the angle between the cascade direction and emission point -> DOM
cos_psi_vertex      the same from the vertex
dom_to_vertex_z     z-component of the unit vector DOM -> vertex (PMT faces down)
dom_to_emission_z   z-component of the unit vector DOM -> emission point
direction_z         z-component of the cascade direction
dom_z               DOM z / 500 m
log_energy          (log10(E / GeV) - 4) / 1.5
==================  ===================================================================

The emission point lies ``emission_offset_m + emission_slope_m * log10(E)`` along the direction
from the vertex (the shower maximum). Outputs per (hypothesis, DOM):

- log charge factor ``c``: the total charge is
  ``exp(c) * charge_scale_pe * E * eff * exp(-r_e / attenuation_m) / (r_e^2 + distance_offset_m^2)``;
  the expected charge inside the readout window is that times the time density's in-window mass;
- NB over-dispersion ``alpha = softplus(.)`` (small at initialisation);
- K asymmetric Gaussians placed at ``t + r_e / c_ice + offset_k`` with
  ``offset_k = softplus(.) * T(r_e)``, ``scale_k = min_time_scale_ns + exp(.) * T(r_e)``,
  ``T(r) = time_scale_ns + time_scale_per_m_ns * r``, asymmetry ``exp(.)``, mixture logits.
  The mixture is truncated to (normalised over) the readout window.

The network runs in float32 (config ``float_precision``) with times relative to the cascade
time; results are float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ...config.registry import register
from ...detector import DetectorTable
from ..distributions import AsymmetricGaussian, Mixture
from .base import Source, SourceConfigError, window_normalised_times

CASCADE_PARAMETER_NAMES = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
NUM_FEATURES = 10
_ACTIVATIONS = {
    "elu": tf.nn.elu,
    "relu": tf.nn.relu,
    "tanh": tf.tanh,
    "softplus": tf.nn.softplus,
    "swish": tf.nn.silu,
    "silu": tf.nn.silu,
    "gelu": tf.nn.gelu,
}
_LOG_CLIP = 30.0  # soft bound of log-valued network outputs


def _inverse_softplus(value: np.ndarray) -> np.ndarray:
    value = np.asarray(value, dtype=np.float64)
    return value + np.log(-np.expm1(-value))


def _soft_clip(value: tf.Tensor, bound: float = _LOG_CLIP) -> tf.Tensor:
    return bound * tf.tanh(value / bound)


def cascade_direction(zenith: tf.Tensor, azimuth: tf.Tensor) -> tf.Tensor:
    """Unit travel direction [..., 3] of a particle coming from (zenith, azimuth)."""
    sin_zen = tf.sin(zenith)
    return tf.stack(
        [-sin_zen * tf.cos(azimuth), -sin_zen * tf.sin(azimuth), -tf.cos(zenith)], axis=-1
    )


@register("CascadeSource")
class CascadeSource(Source):
    """Neural-network cascade source (see the module docstring for the model).

    Config
    ------
    num_hidden_layers : int (2), num_units : int (64), activation : str ("elu")
        The MLP shared over DOMs.
    num_time_components : int (3)
        Asymmetric Gaussians in the time mixture.
    attenuation_m : float (98), distance_offset_m : float (1), charge_scale_pe : float (38.28)
        Analytic distance scaling of the charge; charge_scale_pe = 740 * 0.65 / (4 pi).
    c_ice_m_per_ns : float (0.22103)
        Group velocity of light in ice.
    emission_offset_m, emission_slope_m : float (0.64, 0.92)
        Shower-maximum shift ``offset + slope * log10(E / GeV)``.
    time_scale_ns, time_scale_per_m_ns, min_time_scale_ns : float (20, 5, 1)
        Time scale ``T(r)`` of offsets/widths and the minimal width.
    initial_alpha : float (0.001)
        NB over-dispersion at initialisation.
    seed : int (1)
        Seed of the weight initialisation.
    float_precision : str ("float32")
        dtype of the network and time densities ("float64" for precise gradient checks).
    """

    DEFAULT_CONFIG = {
        "num_hidden_layers": 2,
        "num_units": 64,
        "activation": "elu",
        "num_time_components": 3,
        "attenuation_m": 98.0,
        "distance_offset_m": 1.0,
        "charge_scale_pe": 740.0 * 0.65 / (4.0 * np.pi),
        "c_ice_m_per_ns": 0.22103,
        "emission_offset_m": 0.64,
        "emission_slope_m": 0.92,
        "time_scale_ns": 20.0,
        "time_scale_per_m_ns": 5.0,
        "min_time_scale_ns": 1.0,
        "initial_alpha": 0.001,
        "seed": 1,
        "float_precision": "float32",
    }

    def __init__(
        self,
        config: Mapping[str, Any] | None,
        detector: DetectorTable,
        name: str = "cascade",
        key_path: str | None = None,
    ):
        super().__init__(config, detector, name, key_path)
        cfg = self.config
        path = f"{self.key_path}.config"
        for key in ("num_units", "num_time_components"):
            if cfg[key] < 1:
                raise SourceConfigError(f"{path}.{key}: must be >= 1, got {cfg[key]}")
        if cfg["num_hidden_layers"] < 0:
            raise SourceConfigError(
                f"{path}.num_hidden_layers: must be >= 0, got {cfg['num_hidden_layers']}"
            )
        if cfg["activation"] not in _ACTIVATIONS:
            raise SourceConfigError(
                f"{path}.activation: {cfg['activation']!r} is not one of {sorted(_ACTIVATIONS)}"
            )
        for key in (
            "attenuation_m",
            "charge_scale_pe",
            "c_ice_m_per_ns",
            "time_scale_ns",
            "min_time_scale_ns",
            "initial_alpha",
        ):
            if cfg[key] <= 0:
                raise SourceConfigError(f"{path}.{key}: must be > 0, got {cfg[key]}")
        for key in ("distance_offset_m", "time_scale_per_m_ns"):
            if cfg[key] < 0:
                raise SourceConfigError(f"{path}.{key}: must be >= 0, got {cfg[key]}")
        if cfg["float_precision"] not in ("float32", "float64"):
            raise SourceConfigError(
                f"{path}.float_precision: 'float32' or 'float64', got {cfg['float_precision']!r}"
            )
        self.parameter_names = CASCADE_PARAMETER_NAMES
        self.dtype = tf.as_dtype(cfg["float_precision"])
        self._activation = _ACTIVATIONS[cfg["activation"]]
        self.num_time_components = cfg["num_time_components"]
        self.dom_positions = tf.constant(detector.positions, dtype=self.dtype)
        self.dom_efficiency = tf.constant(detector.efficiency, dtype=self.dtype)
        self._build_network(np.random.default_rng(cfg["seed"]))

    # ------------------------------------------------------------------ weights
    def _build_network(self, rng: np.random.Generator) -> None:
        cfg = self.config
        k = self.num_time_components
        sizes = [NUM_FEATURES] + [cfg["num_units"]] * cfg["num_hidden_layers"] + [2 + 4 * k]
        self.weights: list[tf.Variable] = []
        self.biases: list[tf.Variable] = []
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            limit = np.sqrt(6.0 / (n_in + n_out))  # Glorot uniform
            if layer == len(sizes) - 2:
                limit *= 0.1  # start near the bias values below
            w = rng.uniform(-limit, limit, size=(n_in, n_out))
            b = np.zeros(n_out)
            self.weights.append(tf.Variable(w, dtype=self.dtype, name=f"w{layer}"))
            self.biases.append(tf.Variable(b, dtype=self.dtype, name=f"b{layer}"))
        # output biases: sensible initial time mixture and small over-dispersion
        out_bias = np.zeros(2 + 4 * k)
        out_bias[1] = _inverse_softplus(cfg["initial_alpha"])
        out_bias[2 : 2 + k] = _inverse_softplus(np.geomspace(0.1, 2.0, k))  # offsets / T(r)
        out_bias[2 + k : 2 + 2 * k] = np.log(np.geomspace(0.2, 1.0, k))  # widths / T(r)
        out_bias[2 + 2 * k : 2 + 3 * k] = np.log(2.0)  # log asymmetry: longer right tail
        out_bias[2 + 3 * k :] = 0.0  # mixture logits
        self.biases[-1].assign(out_bias)

    def own_variables(self) -> dict[str, tf.Variable]:
        out = {}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"dense_{layer}/kernel"] = w
            out[f"dense_{layer}/bias"] = b
        return out

    # ------------------------------------------------------------------ geometry and network
    def features(self, parameters: tf.Tensor) -> dict[str, tf.Tensor]:
        """Network inputs and geometry for parameters [B, S, 7] (in the source's dtype).

        Returns
        -------
        dict
            ``features`` [B, S, D, F], ``distance_m`` [B, S, D] (emission point -> DOM),
            ``energy_gev`` [B, S, 1].
        """
        cfg = self.config
        p = tf.cast(parameters, self.dtype)
        vertex = p[..., 0:3]  # [B, S, 3]
        direction = cascade_direction(p[..., 3], p[..., 4])  # [B, S, 3]
        energy = tf.maximum(p[..., 5:6], 1e-6)  # [B, S, 1]
        log10_energy = tf.math.log(energy) / np.log(10.0)
        shift = cfg["emission_offset_m"] + cfg["emission_slope_m"] * log10_energy
        emission = vertex + tf.maximum(shift, 0.0) * direction  # [B, S, 3]
        dom = self.dom_positions[None, None]  # [1, 1, D, 3]
        to_dom_v = dom - vertex[:, :, None, :]  # [B, S, D, 3]
        to_dom_e = dom - emission[:, :, None, :]
        r_v = tf.sqrt(tf.reduce_sum(tf.square(to_dom_v), axis=-1) + 1e-2)  # [B, S, D]
        r_e = tf.sqrt(tf.reduce_sum(tf.square(to_dom_e), axis=-1) + 1e-2)
        d = direction[:, :, None, :]
        cos_psi = tf.reduce_sum(d * to_dom_e, axis=-1) / r_e
        cos_psi_v = tf.reduce_sum(d * to_dom_v, axis=-1) / r_v
        ones = tf.ones_like(r_e)
        feats = tf.stack(
            [
                tf.math.log1p(r_e / 10.0) / 3.0,
                r_e / 300.0,
                tf.math.log1p(r_v / 10.0) / 3.0,
                cos_psi,
                cos_psi_v,
                -to_dom_v[..., 2] / r_v,
                -to_dom_e[..., 2] / r_e,
                direction[:, :, None, 2] * ones,
                self.dom_positions[None, None, :, 2] / 500.0 * ones,
                (log10_energy - 4.0) / 1.5 * ones,
            ],
            axis=-1,
        )
        return {"features": feats, "distance_m": r_e, "energy_gev": energy}

    def network(self, features: tf.Tensor) -> tf.Tensor:
        """MLP over the last axis: [..., F] -> [..., 2 + 4 K]."""
        shape = tf.shape(features)
        x = tf.reshape(features, [-1, NUM_FEATURES])
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = tf.matmul(x, w) + b
            if layer < last:
                x = self._activation(x)
        return tf.reshape(x, tf.concat([shape[:-1], [2 + 4 * self.num_time_components]], 0))

    def dom_outputs(self, parameters: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per (event, hypothesis, DOM) charge before the window, alpha and the time mixture.

        Times (``loc``) are relative to the cascade time. Shapes: ``total_charge``, ``alpha``
        [B, S, D]; ``loc``, ``scale``, ``asymmetry``, ``log_weights`` [B, S, D, K].
        """
        cfg = self.config
        k = self.num_time_components
        geo = self.features(parameters)
        out = self.network(geo["features"])
        r = geo["distance_m"]
        distance_factor = tf.exp(-r / cfg["attenuation_m"]) / (
            tf.square(r) + cfg["distance_offset_m"] ** 2
        )
        total_charge = (
            tf.exp(_soft_clip(out[..., 0]))
            * cfg["charge_scale_pe"]
            * geo["energy_gev"]
            * self.dom_efficiency
            * distance_factor
        )
        alpha = tf.nn.softplus(out[..., 1]) + 1e-8
        time_scale = (cfg["time_scale_ns"] + cfg["time_scale_per_m_ns"] * r)[..., None]
        geometric = (r / cfg["c_ice_m_per_ns"])[..., None]
        loc = geometric + tf.nn.softplus(out[..., 2 : 2 + k]) * time_scale
        scale = cfg["min_time_scale_ns"] + tf.exp(_soft_clip(out[..., 2 + k : 2 + 2 * k])) * (
            time_scale
        )
        asymmetry = tf.exp(_soft_clip(out[..., 2 + 2 * k : 2 + 3 * k], 5.0))
        log_weights = tf.nn.log_softmax(out[..., 2 + 3 * k :], axis=-1)
        return {
            "total_charge": total_charge,
            "alpha": alpha,
            "loc": loc,
            "scale": scale,
            "asymmetry": asymmetry,
            "log_weights": log_weights,
        }

    # ------------------------------------------------------------------ evaluation
    @staticmethod
    def time_mixture(dom: Mapping[str, tf.Tensor]) -> Mixture:
        """The (un-truncated) arrival-time mixture of :meth:`dom_outputs` as a distribution
        (times relative to the cascade time), e.g. for sampling."""
        return Mixture.from_logits(
            dom["log_weights"],
            AsymmetricGaussian(dom["loc"], dom["scale"], dom["asymmetry"]),
        )

    def evaluate_stacked(
        self, parameters: tf.Tensor, batch: Mapping[str, tf.Tensor], with_nested: bool = True
    ) -> dict[str, Any]:
        self.check_stacked_parameters(parameters)
        dom = self.dom_outputs(parameters)
        times = window_normalised_times(
            {"packed": _pack_mixture(dom)},
            _packed_log_pdf,
            _packed_integral,
            reference_time_ns=tf.cast(parameters[..., 6], tf.float64),
            batch=batch,
            num_doms=self.num_doms,
            dtype=self.dtype,
        )
        charge = tf.cast(dom["total_charge"] * times["window_mass"], tf.float64)
        alpha = tf.cast(dom["alpha"], tf.float64)
        return {
            "dom_charges": charge,
            "dom_charges_variance": charge + alpha * tf.square(charge),
            "pulse_pdf": times["pulse_pdf"],
            "pulse_cdf": times["pulse_cdf"],
            "dom_cdf_exclusion": times["dom_cdf_exclusion"],
        }


# -------------------------------------------------------------------------- packed time mixture
# The hot path evaluates the asymmetric-Gaussian mixture (the density of
# egenerator.model.distributions.AsymmetricGaussian) from one packed tensor [..., 6, K] so that
# each pulse / window needs one gather (one scatter in the backward pass), with per-DOM constants
# precomputed. Rows: mode, left width, right width, log(weight * 2 / (sqrt(2 pi) width_left
# (1 + r))), left mass 2 w / (1 + r), right mass 2 w r / (1 + r).
_LOG_GAUSS_HALF_NORM = float(np.log(2.0) - 0.5 * np.log(2.0 * np.pi))


def _pack_mixture(dom: Mapping[str, tf.Tensor]) -> tf.Tensor:
    scale, asym = dom["scale"], dom["asymmetry"]
    weights = tf.exp(dom["log_weights"])
    log_coef = dom["log_weights"] + _LOG_GAUSS_HALF_NORM - tf.math.log(scale) - tf.math.log1p(asym)
    left_mass = 2.0 * weights / (1.0 + asym)
    return tf.stack(
        [dom["loc"], scale, scale * asym, log_coef, left_mass, left_mass * asym], axis=-2
    )


def _packed_log_pdf(params: Mapping[str, tf.Tensor], time: tf.Tensor) -> tf.Tensor:
    """log of the mixture density at ``time`` [...] (params [..., 6, K])."""
    q = params["packed"]
    delta = time[..., None] - q[..., 0, :]
    width = tf.where(delta < 0, q[..., 1, :], q[..., 2, :])
    z = delta / width
    return tf.reduce_logsumexp(q[..., 3, :] - 0.5 * tf.square(z), axis=-1)


def _std_normal_cdf(z: tf.Tensor) -> tf.Tensor:
    return 0.5 * tf.math.erfc(-z * np.sqrt(0.5))


def _packed_integral(params: Mapping[str, tf.Tensor], start: tf.Tensor, stop: tf.Tensor):
    """Mixture mass in [start, stop] (start <= stop), split at each mode so that only
    Phi(z <= 0) values are subtracted (no cancellation against 1 in either tail)."""
    q = params["packed"]
    loc = q[..., 0, :]
    a = start[..., None] - loc
    b = stop[..., None] - loc
    left = q[..., 1, :]
    right = q[..., 2, :]
    left_part = _std_normal_cdf(tf.minimum(b, 0.0) / left) - _std_normal_cdf(
        tf.minimum(a, 0.0) / left
    )
    right_part = _std_normal_cdf(-tf.maximum(a, 0.0) / right) - _std_normal_cdf(
        -tf.maximum(b, 0.0) / right
    )
    return tf.reduce_sum(q[..., 4, :] * left_part + q[..., 5, :] * right_part, axis=-1)
