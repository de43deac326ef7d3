"""NoiseSource: dark noise, uniform in time over the readout window (no parameters).

Old class path: ``egenerator.model.source.noise.default.DefaultNoiseModel``.
Expected charge per DOM = ``noise_rate_hz x window length x scale``; ``scale`` is a learnable
factor (initial value ``initial_scale``, default 1; frozen with ``trainable: false``). The
variance equals the mean (Poisson).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ...config.registry import register
from ...detector import DetectorTable
from .base import Source, SourceConfigError, segment_sum_event_dom


@register("NoiseSource")
class NoiseSource(Source):
    """Uniform dark noise over the readout window.

    Config
    ------
    trainable : bool (default true)
        Whether the overall scale factor is learned.
    initial_scale : float (default 1.0)
        Initial value of the scale factor (> 0).
    """

    DEFAULT_CONFIG = {"trainable": True, "initial_scale": 1.0}

    def __init__(
        self,
        config: Mapping[str, Any] | None,
        detector: DetectorTable,
        name: str = "noise",
        key_path: str | None = None,
    ):
        super().__init__(config, detector, name, key_path)
        if self.config["initial_scale"] <= 0:
            raise SourceConfigError(
                f"{self.key_path}.config.initial_scale: must be > 0, got "
                f"{self.config['initial_scale']}"
            )
        self.parameter_names = ()
        self.noise_rate_per_ns = tf.constant(
            np.asarray(detector.noise_rate_hz, dtype=np.float64) * 1e-9, dtype=tf.float64
        )
        self.log_scale = tf.Variable(
            np.log(self.config["initial_scale"]),
            dtype=tf.float64,
            trainable=self.config["trainable"],
            name="log_scale",
        )

    def own_variables(self) -> dict[str, tf.Variable]:
        return {"log_scale": self.log_scale}

    @property
    def scale(self) -> tf.Tensor:
        """The noise-rate scale factor."""
        return tf.exp(self.log_scale)

    def evaluate_stacked(
        self, parameters: tf.Tensor, batch: Mapping[str, tf.Tensor], with_nested: bool = True
    ) -> dict[str, Any]:
        self.check_stacked_parameters(parameters)
        window = batch["time_window_ns"]
        num_events = tf.shape(window)[0]
        num_stack = tf.shape(parameters)[1]
        length = window[:, 1] - window[:, 0]  # [B]
        charge = (length[:, None] * self.scale) * self.noise_rate_per_ns[None, :]  # [B, D]
        charge = tf.tile(charge[:, None, :], tf.stack([1, num_stack, 1]))

        event = batch["pulse_event"]
        time = batch["pulse_time_ns"]
        pulse_window = tf.gather(window, event)
        pulse_length = pulse_window[:, 1] - pulse_window[:, 0]
        inside = (time >= pulse_window[:, 0]) & (time <= pulse_window[:, 1])
        pdf = tf.where(inside, 1.0 / pulse_length, tf.zeros_like(time))
        cdf = tf.clip_by_value((time - pulse_window[:, 0]) / pulse_length, 0.0, 1.0)

        w_event = batch["window_event"]
        w_window = tf.gather(window, w_event)
        excl = batch["window_exclusions_ns"]
        lo = tf.clip_by_value(excl[:, 0], w_window[:, 0], w_window[:, 1])
        hi = tf.clip_by_value(excl[:, 1], w_window[:, 0], w_window[:, 1])
        fraction = tf.maximum(hi - lo, 0.0) / (w_window[:, 1] - w_window[:, 0])
        fraction = tf.tile(fraction[:, None], tf.stack([1, num_stack]))
        excluded = segment_sum_event_dom(
            fraction, w_event, batch["window_dom"], num_events, self.num_doms
        )
        return {
            "dom_charges": charge,
            "dom_charges_variance": charge,
            "pulse_pdf": tf.tile(pdf[:, None], tf.stack([1, num_stack])),
            "pulse_cdf": tf.tile(cdf[:, None], tf.stack([1, num_stack])),
            "dom_cdf_exclusion": tf.clip_by_value(excluded, 0.0, 1.0),
        }
