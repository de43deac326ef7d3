"""Validated reading of per-DOM tables: pulse series and DOM lists as flat arrays + event index."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .reader import HdfFormatError, HdfwriterFile

# om > 60 are IceTop DOMs (and om 61-64 IceTop tanks); in-ice analyses skip them.
MAX_INICE_OM = 60


@dataclass(frozen=True)
class PulseSeries:
    """The pulses of one pulse-series table, flat, with a per-event row range.

    Attributes
    ----------
    string, om : [N] int64
        OMKey of each pulse.
    time_ns, charge_pe, width_ns : [N] float64
        Leading-edge time [ns], charge [PE] and width [ns] of each pulse.
    pulse_event : [N] int64
        Position (0..E-1) of each pulse's event in ``event_ids``.
    event_ids : [E, 4] int64
        (Run, Event, SubEvent, SubEventStream) of every event of the table's index, including
        events where the object is missing (``exists`` False, no pulses).
    exists : [E] bool
        Whether the pulse series was in the event's frame.
    start, stop : [E] int64
        Pulse range ``[start, stop)`` of each event in the flat arrays.
    source : str
        ``"<file>:<table>"``.
    """

    string: np.ndarray
    om: np.ndarray
    time_ns: np.ndarray
    charge_pe: np.ndarray
    width_ns: np.ndarray
    pulse_event: np.ndarray
    event_ids: np.ndarray
    exists: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    source: str

    @property
    def num_events(self) -> int:
        return int(self.event_ids.shape[0])

    @property
    def num_pulses(self) -> int:
        return int(self.time_ns.shape[0])


@dataclass(frozen=True)
class DomList:
    """The DOMs of an I3VectorOMKey table (BadDomsList, BrightDOMs), flat, per event.

    Attributes mirror :class:`PulseSeries`: ``string``, ``om``, ``row_event`` [N] and
    ``event_ids`` [E, 4], ``exists`` [E], ``start``/``stop`` [E].
    """

    string: np.ndarray
    om: np.ndarray
    row_event: np.ndarray
    event_ids: np.ndarray
    exists: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    source: str


def _open(file: str | os.PathLike | HdfwriterFile) -> tuple[HdfwriterFile, bool]:
    if isinstance(file, HdfwriterFile):
        return file, False
    return HdfwriterFile(file), True


def _row_event(index: np.ndarray) -> np.ndarray:
    counts = (index["stop"] - index["start"]).astype(np.int64)
    return np.repeat(np.arange(index.shape[0], dtype=np.int64), counts)


def _ids(index: np.ndarray) -> np.ndarray:
    return np.stack(
        [index[c] for c in ("Run", "Event", "SubEvent", "SubEventStream")], axis=1
    ).reshape(-1, 4)


def _filter_rows(index: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New (start, stop) per event after dropping rows where ``keep`` is False."""
    cumulative = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    return cumulative[index["start"]], cumulative[index["stop"]]


def _fail_row(
    handle: HdfwriterFile, key: str, column: str, rows: np.ndarray, values: np.ndarray, what: str
) -> None:
    index = handle.event_index(key)
    k = int(rows[0])
    event = int(np.searchsorted(index["stop"], k, side="right"))
    run_event = ""
    if event < index.shape[0]:
        run_event = f" (Run {index['Run'][event]}, Event {index['Event'][event]})"
    raise HdfFormatError(
        f"{handle.path}: table '{key}' column '{column}' row {k}{run_event} has value "
        f"{values[k]!r}; expected {what} ({rows.size} bad row(s) in total)"
    )


def read_pulses(
    file: str | os.PathLike | HdfwriterFile, key: str, *, skip_icetop: bool = True
) -> PulseSeries:
    """Read a pulse-series table (``I3RecoPulseSeriesMap``) as validated flat arrays.

    Parameters
    ----------
    file : path or HdfwriterFile
    key : str
        Table name, e.g. ``"InIceDSTPulses"``.
    skip_icetop : bool
        Drop pulses of IceTop DOMs (om > 60).

    Raises
    ------
    HdfFormatError
        Missing table/column, or a pulse with a non-finite time or a non-finite or negative
        charge; the message names file, table, column, row and value.
    """
    handle, owned = _open(file)
    try:
        has_width = "width" in handle.columns(key)
        # one read (one decompression pass) for all the columns needed
        table = handle.read_table(
            key, ["string", "om", "time", "charge"] + (["width"] if has_width else [])
        )
        width = table["width"].astype(np.float64) if has_width else np.zeros(table.shape[0])
        index = handle.event_index(key)
        time_ns = table["time"].astype(np.float64)
        charge_pe = table["charge"].astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(time_ns))
        if bad.size:
            _fail_row(handle, key, "time", bad, time_ns, "a finite time [ns]")
        bad = np.flatnonzero(~np.isfinite(charge_pe) | (charge_pe < 0))
        if bad.size:
            _fail_row(handle, key, "charge", bad, charge_pe, "a finite charge >= 0 [PE]")
        string = table["string"].astype(np.int64)
        om = table["om"].astype(np.int64)
        row_event = _row_event(index)
        start = index["start"].copy()
        stop = index["stop"].copy()
        if skip_icetop:
            keep = om <= MAX_INICE_OM
            if not np.all(keep):
                start, stop = _filter_rows(index, keep)
                string, om, time_ns, charge_pe = (
                    string[keep],
                    om[keep],
                    time_ns[keep],
                    charge_pe[keep],
                )
                width, row_event = width[keep], row_event[keep]
        return PulseSeries(
            string=string,
            om=om,
            time_ns=time_ns,
            charge_pe=charge_pe,
            width_ns=width,
            pulse_event=row_event,
            event_ids=_ids(index),
            exists=index["exists"].copy(),
            start=start,
            stop=stop,
            source=f"{handle.path}:{key}",
        )
    finally:
        if owned:
            handle.close()


def read_dom_list(file: str | os.PathLike | HdfwriterFile, key: str) -> DomList:
    """Read an ``I3VectorOMKey`` table (``BadDomsList``, ``BrightDOMs``) as flat arrays."""
    handle, owned = _open(file)
    try:
        table = handle.read_table(key, ["string", "om"])
        index = handle.event_index(key)
        return DomList(
            string=table["string"].astype(np.int64),
            om=table["om"].astype(np.int64),
            row_event=_row_event(index),
            event_ids=_ids(index),
            exists=index["exists"].copy(),
            start=index["start"].copy(),
            stop=index["stop"].copy(),
            source=f"{handle.path}:{key}",
        )
    finally:
        if owned:
            handle.close()
