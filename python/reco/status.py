"""Per-event fit status codes (the ``fit_status`` column) and their I3Particle counterparts."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from ..data.batch import EventBatch


class FitStatus(IntEnum):
    """Outcome of one event's reconstruction (``<output_key>.fit_status``)."""

    OK = 0
    #: no pulse on any valid DOM
    NO_PULSES = 1
    #: every DOM of the event is excluded (dead, listed, bright, fully time-excluded)
    ALL_DOMS_EXCLUDED = 2
    #: the loss (or its gradient) is not finite at the seed or during the fit
    NAN = 3
    #: the minimiser stopped without converging (iteration limit, stalled far from a minimum)
    FAILED_MINIMIZATION = 4
    #: no usable seed (missing from the seed table and no missing-value rule)
    MISSING_SEED = 5


# I3Particle::FitStatus values (dataclasses/physics/I3Particle.h).
I3_NOT_SET = -1
I3_OK = 0
I3_GENERAL_FAILURE = 10
I3_INSUFFICIENT_HITS = 20
I3_FAILED_TO_CONVERGE = 30
I3_MISSING_SEED = 40

_TO_I3 = {
    FitStatus.OK: I3_OK,
    FitStatus.NO_PULSES: I3_INSUFFICIENT_HITS,
    FitStatus.ALL_DOMS_EXCLUDED: I3_INSUFFICIENT_HITS,
    FitStatus.NAN: I3_GENERAL_FAILURE,
    FitStatus.FAILED_MINIMIZATION: I3_FAILED_TO_CONVERGE,
    FitStatus.MISSING_SEED: I3_MISSING_SEED,
}


def to_i3particle_fit_status(status: np.ndarray) -> np.ndarray:
    """Map :class:`FitStatus` codes [B] to I3Particle ``fit_status`` values [B] (int32)."""
    status = np.asarray(status)
    out = np.full(status.shape, I3_GENERAL_FAILURE, dtype=np.int32)
    for code, value in _TO_I3.items():
        out[status == int(code)] = value
    return out


def precheck_events(batch: EventBatch) -> np.ndarray:
    """Status [B] of events that cannot be fitted at all (``OK`` for the others).

    ``ALL_DOMS_EXCLUDED`` when no DOM is valid, else ``NO_PULSES`` when no pulse with positive
    charge lies on a valid DOM.
    """
    b = batch.num_events
    status = np.full(b, int(FitStatus.OK), dtype=np.int32)
    valid = np.asarray(batch.dom_valid, dtype=bool)
    any_valid = valid.any(axis=1) if b else np.zeros(0, dtype=bool)
    pulse_event = np.asarray(batch.pulse_event, dtype=np.int64)
    pulse_dom = np.asarray(batch.pulse_dom, dtype=np.int64)
    on_valid = valid[pulse_event, pulse_dom] & (np.asarray(batch.pulse_charge_pe) > 0)
    has_pulses = np.bincount(pulse_event[on_valid], minlength=b)[:b] > 0
    status[~has_pulses] = int(FitStatus.NO_PULSES)
    status[~any_valid] = int(FitStatus.ALL_DOMS_EXCLUDED)
    return status
