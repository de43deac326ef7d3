"""EventBatch -> dict of TensorFlow tensors (the dtypes of resources/docs/internals.md)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from .batch import EventBatch

_INDEX_KEYS = ("pulse_event", "pulse_dom", "window_event", "window_dom")
_FLOAT64_KEYS = (
    "pulse_charge_pe",
    "pulse_time_ns",
    "dom_charge",
    "time_window_ns",
    "window_exclusions_ns",
    "weights",
)


def batch_to_tensors(
    batch: EventBatch, parameter_dtype: tf.DType = tf.float32
) -> dict[str, tf.Tensor]:
    """Convert an EventBatch into the tensor dictionary that sources and losses consume.

    Parameters
    ----------
    batch : EventBatch
        The events.
    parameter_dtype : tf.DType
        dtype of ``parameters`` (the network runs in float32; the oracle uses float64).
    """
    tensors: dict[str, tf.Tensor] = {
        "parameters": tf.constant(batch.parameters, dtype=parameter_dtype),
        "dom_valid": tf.constant(np.asarray(batch.dom_valid, dtype=bool)),
    }
    for key in _INDEX_KEYS:
        tensors[key] = tf.constant(np.asarray(getattr(batch, key), dtype=np.int32))
    for key in _FLOAT64_KEYS:
        tensors[key] = tf.constant(np.asarray(getattr(batch, key), dtype=np.float64))
    return tensors


def tensor_signature(num_doms: int, num_parameters: int, parameter_dtype=tf.float32) -> dict:
    """tf.TensorSpec of every key, with unknown batch/pulse/window sizes (one trace serves all)."""
    spec = {
        "parameters": tf.TensorSpec([None, num_parameters], parameter_dtype),
        "dom_valid": tf.TensorSpec([None, num_doms], tf.bool),
        "pulse_charge_pe": tf.TensorSpec([None], tf.float64),
        "pulse_time_ns": tf.TensorSpec([None], tf.float64),
        "dom_charge": tf.TensorSpec([None, num_doms], tf.float64),
        "time_window_ns": tf.TensorSpec([None, 2], tf.float64),
        "window_exclusions_ns": tf.TensorSpec([None, 2], tf.float64),
        "weights": tf.TensorSpec([None], tf.float64),
    }
    for key in _INDEX_KEYS:
        spec[key] = tf.TensorSpec([None], tf.int32)
    return spec


def select_keys(tensors: Mapping[str, tf.Tensor], keys) -> dict[str, tf.Tensor]:
    """The sub-dictionary of the given keys."""
    return {k: tensors[k] for k in keys}
