"""OracleSource: the simulator's exact cascade expectation as a Source (no weights, float64).

The expected charge is the simulator's mean photoelectron count ``mu_i`` times the in-window
mass of the arrival-time density; the time density is the Gaussian-convolved Pandel density of
the delay ``t - t0 - r_i / c_ice`` (r_i: distance emission point -> DOM), truncated to the
readout window. The physics lives in :mod:`egenerator.model.source.oracle_physics_tf` (pure
TensorFlow twins of the numpy simulator); this module only arranges it as a source.

:func:`build_oracle` returns the full oracle hypothesis, ``IndependentMultiSource(cascade =
OracleSource, noise = NoiseSource(fixed))`` with parameters ``cascade_x .. cascade_time``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from ...config.registry import register
from ...detector import DetectorTable
from ...sim.physics import PhysicsConfig
from . import oracle_physics_tf as physics
from .base import Source, SourceConfigError, window_normalised_times
from .cascade import CASCADE_PARAMETER_NAMES
from .noise import NoiseSource

_TUPLE_FIELDS = {f.name for f in dataclasses.fields(PhysicsConfig) if "tuple" in str(f.type)}


def physics_config_from(values: Mapping[str, Any] | None, key_path: str) -> PhysicsConfig:
    """A PhysicsConfig from a mapping of field overrides (unknown fields are errors)."""
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(PhysicsConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SourceConfigError(
            f"{key_path}: unknown PhysicsConfig field(s) {unknown}; valid: {sorted(names)}"
        )
    converted = {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in values.items()}
    try:
        return PhysicsConfig(**converted)
    except (TypeError, ValueError) as error:
        raise SourceConfigError(f"{key_path}: {error}") from None


def physics_config_dict(config: PhysicsConfig) -> dict[str, Any]:
    """All fields of a PhysicsConfig as a YAML-friendly dict (tuples -> lists)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


@register("OracleSource")
class OracleSource(Source):
    """The exact cascade expectation of the embedded simulator.

    Config
    ------
    physics : mapping
        PhysicsConfig field overrides (the resolved config lists every field).
    """

    DEFAULT_CONFIG = {"physics": {}}

    def __init__(
        self,
        config: Mapping[str, Any] | None,
        detector: DetectorTable,
        name: str = "cascade",
        key_path: str | None = None,
    ):
        super().__init__(config, detector, name, key_path)
        self.physics = physics_config_from(
            self.config["physics"], f"{self.key_path}.config.physics"
        )
        self._config = type(self._config)(
            {**self._config, "physics": physics_config_dict(self.physics)}
        )
        self.parameter_names = CASCADE_PARAMETER_NAMES
        self.dom_positions = tf.constant(detector.positions, dtype=tf.float64)
        self.dom_efficiency = tf.constant(detector.efficiency, dtype=tf.float64)

    def emission_distance_m(self, parameters: tf.Tensor) -> tf.Tensor:
        """Distance [B, S, D] from the light emission point (shower maximum) to every DOM."""
        shape = tf.shape(parameters)
        emission = physics.emission_point_tf(tf.reshape(parameters, [-1, 7]), self.physics)
        emission = tf.reshape(emission, tf.stack([shape[0], shape[1], 3]))
        delta = self.dom_positions[None, None] - emission[:, :, None, :]
        squared = tf.reduce_sum(tf.square(delta), axis=-1)
        positive = squared > 0  # finite gradient for a DOM exactly at the emission point
        safe = tf.where(positive, squared, tf.ones_like(squared))
        return tf.where(positive, tf.sqrt(safe), tf.zeros_like(squared))

    def evaluate_stacked(
        self, parameters: tf.Tensor, batch: Mapping[str, tf.Tensor], with_nested: bool = True
    ) -> dict[str, Any]:
        self.check_stacked_parameters(parameters)
        p = tf.cast(parameters, tf.float64)
        shape = tf.shape(p)
        flat = tf.reshape(p, [-1, 7])
        mu = physics.expected_photoelectrons_tf(
            flat, self.dom_positions, self.dom_efficiency, self.physics
        )
        mu = tf.reshape(mu, tf.stack([shape[0], shape[1], self.num_doms]))
        distance = self.emission_distance_m(p)
        per_dom = {"distance": distance, "geometric": distance / self.physics.c_ice_m_per_ns}
        cfg = self.physics

        def log_pdf(q, t):
            return physics.delay_log_pdf_tf(t - q["geometric"], q["distance"], cfg)

        def integral(q, a, b):
            cdf_a = physics.delay_cdf_tf(a - q["geometric"], q["distance"], cfg)
            cdf_b = physics.delay_cdf_tf(b - q["geometric"], q["distance"], cfg)
            return tf.maximum(cdf_b - cdf_a, 0.0)

        times = window_normalised_times(
            per_dom,
            log_pdf,
            integral,
            reference_time_ns=p[..., 6],
            batch=batch,
            num_doms=self.num_doms,
            dtype=tf.float64,
            min_mass=1e-300,
        )
        charge = mu * times["window_mass"]
        return {
            "dom_charges": charge,
            "dom_charges_variance": charge,  # Poisson: no over-dispersion in the default process
            "pulse_pdf": times["pulse_pdf"],
            "pulse_cdf": times["pulse_cdf"],
            "dom_cdf_exclusion": times["dom_cdf_exclusion"],
        }


def build_oracle(detector: DetectorTable, physics_config: PhysicsConfig | None = None) -> Source:
    """The oracle hypothesis: ``cascade`` (OracleSource) + ``noise`` (fixed NoiseSource).

    Parameters are ``cascade_x, cascade_y, cascade_z, cascade_zenith, cascade_azimuth,
    cascade_energy, cascade_time`` (float64 throughout).
    """
    from ..multi_source.independent import IndependentMultiSource

    overrides = physics_config_dict(physics_config) if physics_config is not None else {}
    cascade = OracleSource({"physics": overrides}, detector, "cascade")
    noise = NoiseSource({"trainable": False}, detector, "noise")
    return IndependentMultiSource(
        {"sources": {"cascade": "cascade", "noise": "noise"}},
        detector,
        "oracle",
        bases={"cascade": cascade, "noise": noise},
    )
