"""DOM and time-window exclusions, vectorised over all events of a chunk.

Windows are half-open ``[start, stop)`` in ns. A (event, DOM) pair is encoded as
``event * num_doms + dom`` ("group") so that one sort handles all events at once.
"""

from __future__ import annotations

import numpy as np


def merge_windows(
    window_event: np.ndarray,
    window_dom: np.ndarray,
    start_ns: np.ndarray,
    stop_ns: np.ndarray,
    num_doms: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping (or touching) windows of the same event and DOM.

    Returns
    -------
    event, dom, start_ns, stop_ns
        The merged windows, sorted by (event, dom, start); windows with stop <= start are
        dropped.
    """
    event = np.asarray(window_event, dtype=np.int64)
    dom = np.asarray(window_dom, dtype=np.int64)
    start = np.asarray(start_ns, dtype=np.float64)
    stop = np.asarray(stop_ns, dtype=np.float64)
    keep = stop > start
    event, dom, start, stop = event[keep], dom[keep], start[keep], stop[keep]
    if len(start) == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return empty_i, empty_i.copy(), empty_f, empty_f.copy()
    group = event * num_doms + dom
    order = np.lexsort((stop, start, group))
    group, event, dom, start, stop = (
        group[order],
        event[order],
        dom[order],
        start[order],
        stop[order],
    )
    n = len(start)
    group_change = np.ones(n, dtype=bool)
    group_change[1:] = group[1:] != group[:-1]
    # running maximum of stop inside each group: encode (group id, rank of stop) as one
    # integer that increases from group to group, so a global maximum.accumulate never
    # carries a value over a group boundary.
    stop_values, stop_rank = np.unique(stop, return_inverse=True)
    group_id = np.cumsum(group_change) - 1
    stride = len(stop_values) + 1
    running = np.maximum.accumulate(group_id * stride + stop_rank)
    running_stop = stop_values[running - group_id * stride]
    new_segment = group_change.copy()
    new_segment[1:] |= start[1:] > running_stop[:-1]
    first = np.flatnonzero(new_segment)
    last = np.append(first[1:] - 1, n - 1)
    return event[first], dom[first], start[first], running_stop[last]


def pulses_in_windows(
    pulse_event: np.ndarray,
    pulse_dom: np.ndarray,
    pulse_time_ns: np.ndarray,
    window_event: np.ndarray,
    window_dom: np.ndarray,
    start_ns: np.ndarray,
    stop_ns: np.ndarray,
    num_doms: int,
) -> np.ndarray:
    """Mask [N] of pulses inside a window ``[start, stop)`` of their own event and DOM.

    The windows must be merged (non-overlapping) and sorted, as :func:`merge_windows` returns.
    """
    n_pulses = len(pulse_time_ns)
    inside = np.zeros(n_pulses, dtype=bool)
    if n_pulses == 0 or len(start_ns) == 0:
        return inside
    window_group = np.asarray(window_event, np.int64) * num_doms + np.asarray(window_dom, np.int64)
    pulse_group = np.asarray(pulse_event, np.int64) * num_doms + np.asarray(pulse_dom, np.int64)
    candidates = np.flatnonzero(np.isin(pulse_group, window_group))
    if len(candidates) == 0:
        return inside
    n_windows = len(window_group)
    groups = np.concatenate([window_group, pulse_group[candidates]])
    times = np.concatenate([np.asarray(start_ns, np.float64), pulse_time_ns[candidates]])
    kind = np.concatenate([np.zeros(n_windows, np.int8), np.ones(len(candidates), np.int8)])
    # windows sort before pulses at equal time: a pulse at `start` is inside
    order = np.lexsort((kind, times, groups))
    window_at = np.where(order < n_windows, order, -1)
    last_window = np.maximum.accumulate(window_at)
    is_pulse = order >= n_windows
    pulse_pos = order[is_pulse] - n_windows
    window = last_window[is_pulse]
    valid = window >= 0
    hit = np.zeros(len(pulse_pos), dtype=bool)
    w = window[valid]
    p = candidates[pulse_pos[valid]]
    hit[valid] = (window_group[w] == pulse_group[p]) & (pulse_time_ns[p] < stop_ns[w])
    inside[candidates[pulse_pos]] = hit
    return inside


def bright_dom_mask(
    dom_charge: np.ndarray, threshold_fraction: float, threshold_charge_pe: float
) -> np.ndarray:
    """[B, D] True where a DOM is bright: charge > fraction x event charge AND > threshold PE."""
    event_charge = dom_charge.sum(axis=1, keepdims=True)
    return (dom_charge > threshold_fraction * event_charge) & (dom_charge > threshold_charge_pe)
