"""DOM and time-window exclusions for one event: the numpy reference of the IceTray layer.

Input: the flat pulses of one event (string, om, time, charge), the detector table, DOM lists
(whole DOMs excluded, e.g. ``BadDomsList``) and time-window maps (``SaturationWindows``,
``CalibrationErrata``). Output: :class:`EventArrays`, what one row of an
:class:`egenerator.data.EventBatch` needs. The C++ converter (``icecube._egenerator``) implements
the same rules; the tests compare the two pulse by pulse.

Rules (COMPAT.md section 5):

1. Pulses on DOMs with om > 60 that are not in the detector table (IceTop) are skipped; any other
   DOM missing from the table is an error. DOM-list and window entries for DOMs that are not in
   the table are ignored.
2. DOMs in a DOM list are excluded: ``dom_valid`` False, their pulses removed.
3. Time windows with ``stop <= start`` are empty and ignored. Without partial exclusion every DOM
   with a (non-empty) window is excluded like a listed DOM. With partial exclusion the windows of
   each DOM are merged where they overlap or touch, pulses with ``start <= time < stop`` are
   removed, the DOM stays valid and the merged windows are passed on (only for valid DOMs).
4. Bright DOMs (:mod:`.bright_doms`) are computed from all pulses of in-table DOMs before any
   exclusion and excluded like listed DOMs.
5. Optionally, consecutive surviving pulses of one DOM closer than the merge threshold in time
   (gap to the previous pulse < threshold) are merged into one pulse with the time of the first
   and the summed charge.

Pulses come out ordered by (DOM index, time); ties keep the input order. Inputs are never
modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.batch import EventBatch
from ..detector import DetectorTable
from .bright_doms import (
    DEFAULT_THRESHOLD_CHARGE_PE,
    DEFAULT_THRESHOLD_FRACTION,
    bright_dom_mask,
)

MAX_INICE_OM = 60


class FrameConversionError(ValueError):
    """Pulses, DOM lists or time windows of an event cannot be converted."""


@dataclass(frozen=True)
class TimeWindowMap:
    """Flat form of an ``I3TimeWindowSeriesMap``: one row per window.

    Attributes
    ----------
    string, om : [W] int
        OMKey of the DOM the window belongs to.
    start_ns, stop_ns : [W] float
        Window ``[start, stop)`` [ns]; may be infinite.
    """

    string: np.ndarray
    om: np.ndarray
    start_ns: np.ndarray
    stop_ns: np.ndarray

    @staticmethod
    def empty() -> TimeWindowMap:
        return TimeWindowMap(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class ExclusionSettings:
    """How exclusions are applied (names as in ``ApplyEventGeneratorReconstruction``).

    Attributes
    ----------
    partial_exclusion : bool
        True: remove only the pulses inside time windows and pass the windows on.
        False: exclude every DOM that has a time window.
    exclude_bright_doms : bool
        Exclude bright DOMs (see :mod:`.bright_doms`).
    bright_doms_threshold_fraction : float
        Fraction of the event charge a bright DOM exceeds.
    bright_doms_threshold_charge_pe : float
        Charge a bright DOM exceeds [PE].
    merge_pulses_time_threshold_ns : float or None
        Merge consecutive pulses of a DOM closer than this [ns]; None: no merging.
    """

    partial_exclusion: bool = True
    exclude_bright_doms: bool = True
    bright_doms_threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION
    bright_doms_threshold_charge_pe: float = DEFAULT_THRESHOLD_CHARGE_PE
    merge_pulses_time_threshold_ns: float | None = None

    def __post_init__(self) -> None:
        if not self.bright_doms_threshold_fraction >= 0:
            raise FrameConversionError(
                "bright_doms_threshold_fraction must be >= 0, got "
                f"{self.bright_doms_threshold_fraction}"
            )
        if not np.isfinite(self.bright_doms_threshold_charge_pe):
            raise FrameConversionError(
                "bright_doms_threshold_charge_pe must be finite, got "
                f"{self.bright_doms_threshold_charge_pe}"
            )
        threshold = self.merge_pulses_time_threshold_ns
        if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
            raise FrameConversionError(
                f"merge_pulses_time_threshold_ns must be None or >= 0, got {threshold}"
            )


@dataclass(frozen=True)
class EventArrays:
    """One event after exclusions, on a detector of D DOMs.

    Attributes
    ----------
    pulse_time_ns, pulse_charge_pe : [N] float64
        Surviving pulses, ordered by (DOM index, time).
    pulse_dom : [N] int64
        DOM index of each pulse.
    dom_charge_pe : [D] float64
        Summed charge of the surviving pulses per DOM.
    dom_valid : [D] bool
        False for excluded DOMs (listed, bright, or with windows without partial exclusion).
    window_start_ns, window_stop_ns : [M] float64
        Merged exclusion windows of valid DOMs, ordered by (DOM index, start).
    window_dom : [M] int64
        DOM index of each window.
    bright_doms : [K] int64
        Indices of the bright DOMs (empty when bright DOMs are not excluded).
    """

    pulse_time_ns: np.ndarray
    pulse_charge_pe: np.ndarray
    pulse_dom: np.ndarray
    dom_charge_pe: np.ndarray
    dom_valid: np.ndarray
    window_start_ns: np.ndarray
    window_stop_ns: np.ndarray
    window_dom: np.ndarray
    bright_doms: np.ndarray

    @property
    def num_pulses(self) -> int:
        return int(self.pulse_time_ns.shape[0])

    def readout_window_ns(self, buffer_ns: float = 100.0) -> np.ndarray:
        """[2] (first pulse - buffer, last pulse + buffer) [ns]; (0, 0) without pulses."""
        if self.num_pulses == 0:
            return np.zeros(2)
        return np.array(
            [self.pulse_time_ns.min() - buffer_ns, self.pulse_time_ns.max() + buffer_ns]
        )

    def to_event_batch(
        self,
        parameters: np.ndarray,
        time_window_ns: np.ndarray,
        event_id: np.ndarray,
        weight: float = 1.0,
    ) -> EventBatch:
        """An :class:`EventBatch` holding this single event.

        Parameters
        ----------
        parameters : [P] float
            Hypothesis parameters (labels or seed) of the event.
        time_window_ns : [2] float
            Readout window (start, stop) [ns].
        event_id : [4] int
            (Run, Event, SubEvent, SubEventStream).
        weight : float
            Event weight.
        """
        num_pulses = self.num_pulses
        num_windows = int(self.window_dom.shape[0])
        return EventBatch(
            parameters=np.asarray(parameters, dtype=np.float64).reshape(1, -1),
            pulse_charge_pe=self.pulse_charge_pe.copy(),
            pulse_time_ns=self.pulse_time_ns.copy(),
            pulse_event=np.zeros(num_pulses, dtype=np.int64),
            pulse_dom=self.pulse_dom.copy(),
            dom_charge=self.dom_charge_pe.reshape(1, -1).copy(),
            dom_valid=self.dom_valid.reshape(1, -1).copy(),
            time_window_ns=np.asarray(time_window_ns, dtype=np.float64).reshape(1, 2),
            window_exclusions_ns=np.stack([self.window_start_ns, self.window_stop_ns], axis=1),
            window_event=np.zeros(num_windows, dtype=np.int64),
            window_dom=self.window_dom.copy(),
            event_id=np.asarray(event_id, dtype=np.int64).reshape(1, 4),
            weights=np.array([weight], dtype=np.float64),
        )


# ---------------------------------------------------------------------- building blocks
def merge_time_windows(
    dom: np.ndarray, start_ns: np.ndarray, stop_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping or touching windows per DOM.

    Parameters
    ----------
    dom : [W] int
        DOM index of each window.
    start_ns, stop_ns : [W] float
        Windows ``[start, stop)``, each with ``stop > start`` (may be infinite).

    Returns
    -------
    dom, start_ns, stop_ns : arrays [M]
        Disjoint windows, ordered by (DOM, start); windows of one DOM that overlap or touch
        (next start <= running stop) are joined.
    """
    dom = np.asarray(dom, dtype=np.int64)
    start_ns = np.asarray(start_ns, dtype=np.float64)
    stop_ns = np.asarray(stop_ns, dtype=np.float64)
    n = dom.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    order = np.lexsort((start_ns, dom))
    d, s, e = dom[order], start_ns[order], stop_ns[order]
    new_dom = np.ones(n, dtype=bool)
    new_dom[1:] = d[1:] != d[:-1]
    group = np.cumsum(new_dom) - 1
    # Running maximum of stop within each DOM: ranks of the stops (so infinities are harmless)
    # offset by group * n are increasing from group to group, so one global maximum.accumulate
    # is a segmented one.
    stop_order = np.argsort(e, kind="stable")
    stop_rank = np.empty(n, dtype=np.int64)
    stop_rank[stop_order] = np.arange(n)
    running = np.maximum.accumulate(group * n + stop_rank) - group * n
    running_stop = e[stop_order[running]]
    begins = new_dom.copy()
    begins[1:] |= s[1:] > running_stop[:-1]
    first = np.flatnonzero(begins)
    last = np.append(first[1:] - 1, n - 1)
    return d[first], s[first], running_stop[last]


def pulses_in_windows(
    pulse_dom: np.ndarray,
    pulse_time_ns: np.ndarray,
    window_dom: np.ndarray,
    window_start_ns: np.ndarray,
    window_stop_ns: np.ndarray,
) -> np.ndarray:
    """Mask of pulses with ``start <= time < stop`` for a window of their DOM.

    The windows must be disjoint per DOM and ordered by (DOM, start), as returned by
    :func:`merge_time_windows`.
    """
    num_windows = window_dom.shape[0]
    num_pulses = pulse_dom.shape[0]
    if num_windows == 0 or num_pulses == 0:
        return np.zeros(num_pulses, dtype=bool)
    doms = np.concatenate([window_dom, pulse_dom])
    values = np.concatenate([window_start_ns, pulse_time_ns])
    is_pulse = np.concatenate([np.zeros(num_windows, np.int8), np.ones(num_pulses, np.int8)])
    # Sorted by (DOM, value, window before pulse): a pulse at exactly `start` follows its window.
    order = np.lexsort((is_pulse, values, doms))
    windows_before = np.cumsum(is_pulse[order] == 0)
    position = np.empty(num_windows + num_pulses, dtype=np.int64)
    position[order] = np.arange(num_windows + num_pulses)
    candidate = windows_before[position[num_windows:]] - 1
    safe = np.maximum(candidate, 0)
    return (
        (candidate >= 0) & (window_dom[safe] == pulse_dom) & (pulse_time_ns < window_stop_ns[safe])
    )


def merge_pulses(
    pulse_dom: np.ndarray,
    pulse_time_ns: np.ndarray,
    pulse_charge_pe: np.ndarray,
    threshold_ns: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge consecutive pulses of one DOM whose gap to the previous pulse is < threshold.

    Pulses must be ordered by (DOM, time). A merged pulse has the time of its first pulse and
    the summed charge. Returns (dom, time, charge).
    """
    n = pulse_dom.shape[0]
    if n == 0:
        return pulse_dom.copy(), pulse_time_ns.copy(), pulse_charge_pe.copy()
    begins = np.ones(n, dtype=bool)
    begins[1:] = (pulse_dom[1:] != pulse_dom[:-1]) | (
        pulse_time_ns[1:] - pulse_time_ns[:-1] >= threshold_ns
    )
    first = np.flatnonzero(begins)
    return pulse_dom[first], pulse_time_ns[first], np.add.reduceat(pulse_charge_pe, first)


# ---------------------------------------------------------------------- validation helpers
def _as_1d(values: np.ndarray, name: str, dtype: type, source: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise FrameConversionError(f"{source}: '{name}' must be 1-d, got shape {array.shape}")
    return array.astype(dtype, copy=False)


def _check_finite(values: np.ndarray, name: str, source: str, allow_inf: bool = False) -> None:
    bad = np.isnan(values) if allow_inf else ~np.isfinite(values)
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise FrameConversionError(f"{source}: '{name}' entry {k} is {values[k]}")


def _dom_list_indices(
    dom_list: np.ndarray, detector: DetectorTable, source: str, k: int
) -> np.ndarray:
    array = np.asarray(dom_list)
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise FrameConversionError(
            f"{source}: DOM list {k} must have shape [K, 2] (string, om), got {array.shape}"
        )
    index = detector.index_of(array[:, 0], array[:, 1])
    return index[index >= 0]


def _window_rows(
    window_map: TimeWindowMap, detector: DetectorTable, source: str, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    name = f"time-window map {k}"
    string = _as_1d(window_map.string, f"{name} string", np.int64, source)
    om = _as_1d(window_map.om, f"{name} om", np.int64, source)
    start = _as_1d(window_map.start_ns, f"{name} start", np.float64, source)
    stop = _as_1d(window_map.stop_ns, f"{name} stop", np.float64, source)
    if not (len(string) == len(om) == len(start) == len(stop)):
        raise FrameConversionError(f"{source}: {name} columns differ in length")
    _check_finite(start, f"{name} start", source, allow_inf=True)
    _check_finite(stop, f"{name} stop", source, allow_inf=True)
    dom = detector.index_of(string, om)
    keep = (dom >= 0) & (stop > start)
    return dom[keep], start[keep], stop[keep]


# ---------------------------------------------------------------------- the conversion
def apply_exclusions(
    pulse_string: np.ndarray,
    pulse_om: np.ndarray,
    pulse_time_ns: np.ndarray,
    pulse_charge_pe: np.ndarray,
    detector: DetectorTable,
    dom_lists: Sequence[np.ndarray] = (),
    time_window_maps: Sequence[TimeWindowMap] = (),
    settings: ExclusionSettings | None = None,
    source: str = "<arrays>",
) -> EventArrays:
    """Apply DOM and time-window exclusions to the pulses of one event.

    Parameters
    ----------
    pulse_string, pulse_om : [N] int
        OMKey of each pulse.
    pulse_time_ns, pulse_charge_pe : [N] float
        Pulse time [ns] and charge [PE].
    detector : DetectorTable
        Maps (string, om) to the DOM index.
    dom_lists : sequence of [K, 2] int arrays
        (string, om) of whole DOMs to exclude (``I3VectorOMKey`` objects).
    time_window_maps : sequence of TimeWindowMap
        Time windows per DOM (``I3TimeWindowSeriesMap`` objects).
    settings : ExclusionSettings, optional
        Defaults: partial exclusion, bright DOMs excluded (0.4, 100 PE), no pulse merging.
    source : str
        Name used in error messages (file, frame key).

    Returns
    -------
    EventArrays
    """
    settings = ExclusionSettings() if settings is None else settings
    string = _as_1d(pulse_string, "pulse string", np.int64, source)
    om = _as_1d(pulse_om, "pulse om", np.int64, source)
    time = _as_1d(pulse_time_ns, "pulse time", np.float64, source)
    charge = _as_1d(pulse_charge_pe, "pulse charge", np.float64, source)
    if not (len(string) == len(om) == len(time) == len(charge)):
        raise FrameConversionError(
            f"{source}: pulse columns differ in length "
            f"({len(string)}, {len(om)}, {len(time)}, {len(charge)})"
        )
    _check_finite(time, "pulse time", source)
    _check_finite(charge, "pulse charge", source)
    num_doms = detector.num_doms

    dom = detector.index_of(string, om)
    unknown = (dom < 0) & (om <= MAX_INICE_OM)
    if np.any(unknown):
        keys = sorted({(int(s), int(o)) for s, o in zip(string[unknown], om[unknown], strict=True)})
        raise FrameConversionError(
            f"{source}: {len(keys)} DOM(s) with pulses are not in the detector table "
            f"'{detector.source}', first: {keys[:5]}"
        )
    in_table = dom >= 0
    dom, time, charge = dom[in_table], time[in_table], charge[in_table]

    dom_valid = np.ones(num_doms, dtype=bool)
    for k, dom_list in enumerate(dom_lists):
        dom_valid[_dom_list_indices(dom_list, detector, source, k)] = False

    window_parts = [
        _window_rows(window_map, detector, source, k)
        for k, window_map in enumerate(time_window_maps)
    ]
    if window_parts:
        window_dom = np.concatenate([p[0] for p in window_parts])
        window_start = np.concatenate([p[1] for p in window_parts])
        window_stop = np.concatenate([p[2] for p in window_parts])
    else:
        window_dom, window_start, window_stop = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if not settings.partial_exclusion:
        dom_valid[window_dom] = False

    if settings.exclude_bright_doms:
        raw_charge = np.bincount(dom, weights=charge, minlength=num_doms)
        bright = bright_dom_mask(
            raw_charge,
            settings.bright_doms_threshold_fraction,
            settings.bright_doms_threshold_charge_pe,
        )
        dom_valid &= ~bright
        bright_doms = np.flatnonzero(bright).astype(np.int64)
    else:
        bright_doms = np.zeros(0, np.int64)

    if settings.partial_exclusion:
        keep_window = dom_valid[window_dom]
        window_dom, window_start, window_stop = merge_time_windows(
            window_dom[keep_window], window_start[keep_window], window_stop[keep_window]
        )
    else:
        window_dom, window_start, window_stop = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)

    order = np.lexsort((time, dom))
    dom, time, charge = dom[order], time[order], charge[order]
    keep = dom_valid[dom]
    dom, time, charge = dom[keep], time[keep], charge[keep]
    inside = pulses_in_windows(dom, time, window_dom, window_start, window_stop)
    dom, time, charge = dom[~inside], time[~inside], charge[~inside]

    if settings.merge_pulses_time_threshold_ns is not None:
        dom, time, charge = merge_pulses(dom, time, charge, settings.merge_pulses_time_threshold_ns)

    return EventArrays(
        pulse_time_ns=time,
        pulse_charge_pe=charge,
        pulse_dom=dom,
        dom_charge_pe=np.bincount(dom, weights=charge, minlength=num_doms),
        dom_valid=dom_valid,
        window_start_ns=window_start,
        window_stop_ns=window_stop,
        window_dom=window_dom,
        bright_doms=bright_doms,
    )
