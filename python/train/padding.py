"""Pad the ragged parts of a batch to a few fixed sizes, so that XLA compiles a handful of shapes.

A tf.function compiled with ``jit_compile=True`` is specialised to the exact input shapes; the
pulse count N and the exclusion-window count M change with every batch, which would recompile
the step each time. With padding, N and M are rounded up to buckets ``minimum * 2^k`` and the
filler entries change nothing:

- filler pulses have charge 0 (every pulse term is ``charge x ...``, so they add exactly 0 to the
  loss and its gradient), sit on the last event and last DOM at that event's readout-window
  stop (the (event, DOM, time) order of the pulses is kept);
- filler exclusion windows have zero length, ``[stop, stop]`` of the last event's readout window
  on its last DOM, so they exclude no probability mass.

``resources/test/test_trainer.py`` checks that loss and gradients are unchanged by padding.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["bucket_size", "pad_batch"]

_PULSE_KEYS = ("pulse_charge_pe", "pulse_time_ns", "pulse_event", "pulse_dom")
_WINDOW_KEYS = ("window_exclusions_ns", "window_event", "window_dom")


def bucket_size(count: int, minimum: int) -> int:
    """Smallest ``minimum * 2^k >= count`` (k >= 0)."""
    size = int(minimum)
    while size < count:
        size *= 2
    return size


def pad_batch(
    batch: Mapping[str, np.ndarray], min_pulses: int = 4096, min_windows: int = 16
) -> dict[str, np.ndarray]:
    """A copy of a numpy batch dict with pulses and exclusion windows padded to their buckets.

    Parameters
    ----------
    batch : mapping of str to np.ndarray
        The batch (keys of resources/docs/internals.md).
    min_pulses, min_windows : int
        Smallest bucket sizes.
    """
    out = {k: np.asarray(v) for k, v in batch.items()}
    window = out["time_window_ns"]
    last_event = window.shape[0] - 1
    last_dom = out["dom_charge"].shape[1] - 1
    stop = float(window[last_event, 1])

    num_pulses = out["pulse_time_ns"].shape[0]
    extra = bucket_size(max(num_pulses, 1), min_pulses) - num_pulses
    if extra:
        fill = {
            "pulse_charge_pe": np.zeros(extra),
            "pulse_time_ns": np.full(extra, stop),
            "pulse_event": np.full(extra, last_event),
            "pulse_dom": np.full(extra, last_dom),
        }
        for key in _PULSE_KEYS:
            out[key] = np.concatenate([out[key], fill[key].astype(out[key].dtype)])

    num_windows = out["window_event"].shape[0]
    extra = bucket_size(max(num_windows, 1), min_windows) - num_windows
    if extra:
        fill = {
            "window_exclusions_ns": np.full((extra, 2), stop),
            "window_event": np.full(extra, last_event),
            "window_dom": np.full(extra, last_dom),
        }
        for key in _WINDOW_KEYS:
            out[key] = np.concatenate([out[key], fill[key].astype(out[key].dtype)])
    return out
