"""EventBatch: the container of B events that flows from the data pipeline into models and losses.

Ragged data stays flat with index vectors; nothing is padded to the largest event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class EventBatch:
    """B events on a detector of D DOMs (DOM index = row of the DetectorTable).

    Attributes
    ----------
    parameters : [B, P] float64
        Hypothesis parameters (labels when training, seeds when reconstructing).
    pulse_charge_pe, pulse_time_ns : [N] float64
        Flat pulses, ordered by (event, DOM, time).
    pulse_event, pulse_dom : [N] int64
        Event and DOM index of each pulse.
    dom_charge : [B, D] float64
        Summed pulse charge per event and DOM [PE].
    dom_valid : [B, D] bool
        False where a DOM is excluded (dead, listed in an exclusion table, bright).
    time_window_ns : [B, 2] float64
        Readout window (start, stop) per event [ns].
    window_exclusions_ns : [M, 2] float64
        Partial time-window exclusions (start, stop) [ns].
    window_event, window_dom : [M] int64
        Event and DOM index of each exclusion window.
    event_id : [B, 4] int64
        (Run, Event, SubEvent, SubEventStream) of each event.
    weights : [B] float64
        Per-event weights (1 unless the config names a weight column).
    """

    parameters: np.ndarray
    pulse_charge_pe: np.ndarray
    pulse_time_ns: np.ndarray
    pulse_event: np.ndarray
    pulse_dom: np.ndarray
    dom_charge: np.ndarray
    dom_valid: np.ndarray
    time_window_ns: np.ndarray
    window_exclusions_ns: np.ndarray
    window_event: np.ndarray
    window_dom: np.ndarray
    event_id: np.ndarray
    weights: np.ndarray

    @property
    def num_events(self) -> int:
        return int(self.dom_charge.shape[0])

    @property
    def num_doms(self) -> int:
        return int(self.dom_charge.shape[1])

    @property
    def num_pulses(self) -> int:
        return int(self.pulse_time_ns.shape[0])

    @property
    def pulses(self) -> np.ndarray:
        """[N, 2] (charge [PE], time [ns]) as in ARCHITECTURE.md."""
        return np.stack([self.pulse_charge_pe, self.pulse_time_ns], axis=1)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def select(self, events: np.ndarray) -> EventBatch:
        """A new batch holding the given event indices (in that order), re-indexed from 0."""
        events = np.asarray(events, dtype=np.int64)
        remap = np.full(self.num_events, -1, dtype=np.int64)
        remap[events] = np.arange(len(events))
        pulse_keep = remap[self.pulse_event] >= 0
        window_keep = remap[self.window_event] >= 0
        new_pulse_event = remap[self.pulse_event[pulse_keep]]
        order = np.argsort(new_pulse_event, kind="stable")
        new_window_event = remap[self.window_event[window_keep]]
        worder = np.argsort(new_window_event, kind="stable")
        return EventBatch(
            parameters=self.parameters[events],
            pulse_charge_pe=self.pulse_charge_pe[pulse_keep][order],
            pulse_time_ns=self.pulse_time_ns[pulse_keep][order],
            pulse_event=new_pulse_event[order],
            pulse_dom=self.pulse_dom[pulse_keep][order],
            dom_charge=self.dom_charge[events],
            dom_valid=self.dom_valid[events],
            time_window_ns=self.time_window_ns[events],
            window_exclusions_ns=self.window_exclusions_ns[window_keep][worder],
            window_event=new_window_event[worder],
            window_dom=self.window_dom[window_keep][worder],
            event_id=self.event_id[events],
            weights=self.weights[events],
        )

    @staticmethod
    def concatenate(batches: list[EventBatch]) -> EventBatch:
        """Join batches along the event axis (same detector)."""
        offsets = np.cumsum([0] + [b.num_events for b in batches[:-1]])
        return EventBatch(
            parameters=np.concatenate([b.parameters for b in batches]),
            pulse_charge_pe=np.concatenate([b.pulse_charge_pe for b in batches]),
            pulse_time_ns=np.concatenate([b.pulse_time_ns for b in batches]),
            pulse_event=np.concatenate(
                [b.pulse_event + o for b, o in zip(batches, offsets, strict=True)]
            ),
            pulse_dom=np.concatenate([b.pulse_dom for b in batches]),
            dom_charge=np.concatenate([b.dom_charge for b in batches]),
            dom_valid=np.concatenate([b.dom_valid for b in batches]),
            time_window_ns=np.concatenate([b.time_window_ns for b in batches]),
            window_exclusions_ns=np.concatenate([b.window_exclusions_ns for b in batches]),
            window_event=np.concatenate(
                [b.window_event + o for b, o in zip(batches, offsets, strict=True)]
            ),
            window_dom=np.concatenate([b.window_dom for b in batches]),
            event_id=np.concatenate([b.event_id for b in batches]),
            weights=np.concatenate([b.weights for b in batches]),
        )
