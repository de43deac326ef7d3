"""Gather events (rows) of a batch-tensor dictionary inside a TF graph.

The minimisers replicate events (one row per event x seed) and drop converged rows while they
iterate; both are a gather of whole events with their pulses and exclusion windows. Pulses and
windows must be sorted by event (as every EventBatch is); rows may repeat and come in any
order, and the result is again sorted by its new row index.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from ..data.batch import EventBatch

PER_EVENT_KEYS = ("dom_charge", "dom_valid", "time_window_ns", "weights")
PULSE_KEYS = ("pulse_charge_pe", "pulse_time_ns", "pulse_dom")
WINDOW_KEYS = ("window_exclusions_ns", "window_dom")


def _ranges(event_of_item: tf.Tensor, num_rows: tf.Tensor, rows: tf.Tensor):
    """Flat item indices and their new owner row for the given rows (items sorted by event)."""
    offsets = tf.searchsorted(
        tf.cast(event_of_item, tf.int64),
        tf.range(num_rows + 1, dtype=tf.int64),
        side="left",
    )
    starts = tf.gather(offsets, rows)
    limits = tf.gather(offsets, rows + 1)
    ranges = tf.ragged.range(starts, limits)
    return ranges.flat_values, tf.cast(ranges.value_rowids(), tf.int32)


def take_rows(tensors: Mapping[str, tf.Tensor], rows: tf.Tensor) -> dict[str, tf.Tensor]:
    """The events ``rows`` [A] (int) of ``tensors`` as a new dictionary of A events.

    Keys other than the batch keys of ``resources/docs/internals.md`` are passed through; the
    ``parameters`` key, if present, is gathered too.
    """
    rows = tf.cast(rows, tf.int64)
    num_rows = tf.cast(tf.shape(tensors["dom_charge"], out_type=tf.int64)[0], tf.int64)
    out = dict(tensors)
    for key in PER_EVENT_KEYS + ("parameters",):
        if key in tensors:
            out[key] = tf.gather(tensors[key], rows)
    index, owner = _ranges(tensors["pulse_event"], num_rows, rows)
    for key in PULSE_KEYS:
        out[key] = tf.gather(tensors[key], index)
    out["pulse_event"] = owner
    index, owner = _ranges(tensors["window_event"], num_rows, rows)
    for key in WINDOW_KEYS:
        out[key] = tf.gather(tensors[key], index)
    out["window_event"] = owner
    return out


def sorted_batch(batch: EventBatch) -> EventBatch:
    """``batch`` with pulses and windows sorted by event (stable), as :func:`take_rows` needs."""
    pulse_sorted = np.all(np.diff(batch.pulse_event) >= 0)
    window_sorted = np.all(np.diff(batch.window_event) >= 0)
    if pulse_sorted and window_sorted:
        return batch
    fields = batch.as_dict()
    order = np.argsort(batch.pulse_event, kind="stable")
    for key in ("pulse_charge_pe", "pulse_time_ns", "pulse_event", "pulse_dom"):
        fields[key] = np.asarray(fields[key])[order]
    worder = np.argsort(batch.window_event, kind="stable")
    for key in ("window_exclusions_ns", "window_event", "window_dom"):
        fields[key] = np.asarray(fields[key])[worder]
    return EventBatch(**fields)
