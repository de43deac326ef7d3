"""What the likelihood terms leave out: excluded DOMs and time-window exclusions.

* A DOM with ``dom_valid == False`` drops out of every term, and so do its pulses.
* Time-window exclusions: ``f = dom_cdf_exclusion`` is the probability mass of the DOM's
  (window-normalised) time density inside its exclusion windows. The loss applies it once per
  DOM, after the sources were summed: the expected observed charge is ``dom_charges * (1 - f)``
  and the pulse density is renormalised to ``pulse_pdf / (1 - f)``. ``f`` is clipped to
  ``[0, 1 - EXCLUSION_CLIP]`` so that a fully excluded window does not divide by zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from .errors import LossInputError

#: f is clipped to [0, 1 - EXCLUSION_CLIP].
EXCLUSION_CLIP = 1e-6


def require_keys(mapping: Mapping[str, tf.Tensor], keys, what: str) -> None:
    """Raise LossInputError naming the missing keys of ``mapping``."""
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise LossInputError(
            f"{what}: missing key(s) {missing} (see resources/docs/internals.md); "
            f"present: {sorted(mapping)}"
        )


def pulse_valid_mask(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """[N] bool: True for pulses on DOMs that are not excluded (``dom_valid`` of their DOM)."""
    require_keys(batch, ("dom_valid", "pulse_event", "pulse_dom"), "batch")
    index = tf.stack(
        [tf.cast(batch["pulse_event"], tf.int32), tf.cast(batch["pulse_dom"], tf.int32)], axis=1
    )
    return tf.gather_nd(tf.cast(batch["dom_valid"], tf.bool), index)


def exclusion_fraction(
    batch: Mapping[str, tf.Tensor], results: Mapping[str, tf.Tensor], dtype=tf.float64
) -> tf.Tensor:
    """[B, D] time-density mass inside the exclusion windows, clipped to [0, 1 - 1e-6].

    Parameters
    ----------
    batch : mapping of tensors
        Unused except for a consistent signature with the terms.
    results : mapping of tensors
        Source results with ``dom_cdf_exclusion`` [B, D].
    dtype : tf.DType
        dtype of the returned tensor (float64 by default).
    """
    del batch
    require_keys(results, ("dom_cdf_exclusion",), "results")
    fraction = tf.cast(results["dom_cdf_exclusion"], dtype)
    return tf.clip_by_value(fraction, 0.0, 1.0 - EXCLUSION_CLIP)
