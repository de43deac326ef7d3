"""Match events across hdfwriter tables on (Run, Event, SubEvent, SubEventStream).

Every function works on whole index columns at once (sorting + searchsorted).
"""

from __future__ import annotations

import numpy as np

_KEY_DTYPE = np.dtype([("high", "<u8"), ("low", "<u8")])


def event_keys(event_ids: np.ndarray) -> np.ndarray:
    """One sortable key per event from ids [E, 4] (Run, Event, SubEvent, SubEventStream)."""
    ids = np.asarray(event_ids, dtype=np.int64).reshape(-1, 4)
    mask = np.uint64(0xFFFFFFFF)
    keys = np.empty(len(ids), dtype=_KEY_DTYPE)
    as_u = ids.astype(np.uint64) & mask  # run/event/subevent are u4, stream i4 (two's complement)
    keys["high"] = (as_u[:, 0] << np.uint64(32)) | as_u[:, 1]
    keys["low"] = (as_u[:, 2] << np.uint64(32)) | as_u[:, 3]
    return keys


def find_duplicates(event_ids: np.ndarray) -> np.ndarray:
    """Row numbers of events whose id already appeared earlier in the same table."""
    keys = event_keys(event_ids)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    dup_sorted = np.zeros(len(keys), dtype=bool)
    dup_sorted[1:] = sorted_keys[1:] == sorted_keys[:-1]
    return np.sort(order[dup_sorted])


def lookup(table_ids: np.ndarray, query_ids: np.ndarray) -> np.ndarray:
    """Row of each queried event in a table's ids, -1 where absent (ids must be unique)."""
    table_keys = event_keys(table_ids)
    query_keys = event_keys(query_ids)
    if len(table_keys) == 0:
        return np.full(len(query_keys), -1, dtype=np.int64)
    order = np.argsort(table_keys, kind="stable")
    sorted_keys = table_keys[order]
    pos = np.searchsorted(sorted_keys, query_keys)
    pos_clipped = np.minimum(pos, len(sorted_keys) - 1)
    found = sorted_keys[pos_clipped] == query_keys
    return np.where(found, order[pos_clipped], -1).astype(np.int64)


def ordered_union(id_lists: list[np.ndarray]) -> np.ndarray:
    """Union of several id lists [*, 4], in order of first appearance (first list first)."""
    all_ids = np.concatenate([np.asarray(i, dtype=np.int64).reshape(-1, 4) for i in id_lists])
    if len(all_ids) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    keys = event_keys(all_ids)
    _, first = np.unique(keys, return_index=True)
    return all_ids[np.sort(first)]


def gather_ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the concatenated ranges [start, stop) and the range index of each row."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.maximum(np.asarray(stops, dtype=np.int64) - starts, 0)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(starts), dtype=np.int64), lengths)
    if total == 0:
        return np.zeros(0, dtype=np.int64), owner
    first = np.cumsum(lengths) - lengths
    rows = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)
    return rows, owner
