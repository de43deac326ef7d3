"""Bright DOMs: DOMs that collect a large share of an event's charge (numpy reference).

A DOM is bright when its charge exceeds ``threshold_fraction`` times the event's total charge
AND exceeds ``threshold_charge_pe`` (COMPAT.md section 5; defaults 0.4 and 100 PE). Bright DOMs
are excluded from the likelihood because their charge is dominated by saturation and by the
details of the light yield very close to the source.

The C++ implementation (``icecube._egenerator``) applies exactly the same comparisons; both use
strict inequalities.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD_FRACTION = 0.4
DEFAULT_THRESHOLD_CHARGE_PE = 100.0


def bright_dom_mask(
    dom_charge_pe: np.ndarray,
    threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION,
    threshold_charge_pe: float = DEFAULT_THRESHOLD_CHARGE_PE,
) -> np.ndarray:
    """Boolean mask of bright DOMs.

    Parameters
    ----------
    dom_charge_pe : np.ndarray
        Charge per DOM [PE], shape [D] for one event or [B, D] for B events. The event's total
        charge is the sum over the last axis.
    threshold_fraction : float
        A bright DOM has more than this fraction of the event's total charge.
    threshold_charge_pe : float
        ... and more than this charge [PE].

    Returns
    -------
    np.ndarray of bool
        Same shape as ``dom_charge_pe``.
    """
    charge = np.asarray(dom_charge_pe, dtype=np.float64)
    if not np.isfinite(threshold_fraction) or threshold_fraction < 0:
        raise ValueError(f"bright DOMs: threshold_fraction must be >= 0, got {threshold_fraction}")
    if not np.isfinite(threshold_charge_pe):
        raise ValueError(
            f"bright DOMs: threshold_charge_pe must be finite, got {threshold_charge_pe}"
        )
    total = charge.sum(axis=-1, keepdims=True)
    return (charge > threshold_fraction * total) & (charge > threshold_charge_pe)


def bright_doms_from_pulses(
    pulse_dom: np.ndarray,
    pulse_charge_pe: np.ndarray,
    num_doms: int,
    threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION,
    threshold_charge_pe: float = DEFAULT_THRESHOLD_CHARGE_PE,
) -> np.ndarray:
    """Indices of the bright DOMs of one event, ascending.

    Parameters
    ----------
    pulse_dom : [N] int
        DOM index of each pulse (row of the detector table).
    pulse_charge_pe : [N] float
        Charge of each pulse [PE].
    num_doms : int
        Number of DOMs D of the detector.
    threshold_fraction, threshold_charge_pe : float
        See :func:`bright_dom_mask`.
    """
    dom_charge = np.bincount(
        np.asarray(pulse_dom, dtype=np.int64),
        weights=np.asarray(pulse_charge_pe, dtype=np.float64),
        minlength=num_doms,
    )
    mask = bright_dom_mask(dom_charge, threshold_fraction, threshold_charge_pe)
    return np.flatnonzero(mask).astype(np.int64)
