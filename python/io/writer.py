"""Writing hdf5 files in IceTray hdfwriter layout with PyTables.

Every frame object is a PyTables ``Table`` at the root (``pandas.read_hdf(file, key)`` opens it
as a generic table, exactly like a real hdfwriter file), its rows start with ``Run, Event,
SubEvent, SubEventStream, exists``, and ``__I3Index__/<table>`` holds one row per event with the
event's row range ``[start, stop)``. Column attributes ``FIELD_k_UNIT`` / ``FIELD_k_DOC`` and
``__I3RaggedTable__`` are set like hdfwriter sets them.

Files are deterministic: no object timestamps are stored (``track_times=False``) and chunk
shapes are fixed, so the same appends give the same bytes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tables

from ..detector import DetectorTable
from ..sim.events import SimulatedEvents
from . import simulation_tables
from .chunks import ChunkedAppender
from .schema import (
    DEFAULT_DOCS,
    DEFAULT_UNITS,
    DOM_LIST_FIELDS,
    EVENT_HEADER_FIELDS,
    EVENT_ID_NAMES,
    HEADER_FIELDS,
    HEADER_NAMES,
    INDEX_FIELDS,
    PARTICLE_FIELDS,
    PULSE_FIELDS,
    TIME_WINDOW_FIELDS,
    index_dtype,
    units_and_docs,
)

INDEX_GROUP = "__I3Index__"
# Target size of one chunk [bytes]; rows per chunk = this / row size.
CHUNK_BYTES = 256 * 1024


def default_filters() -> tables.Filters:
    """zlib level 1 with byte shuffling.

    zlib (as hdfwriter uses) is readable by every hdf5 reader without plugins. Level 1: on
    simulated pulse tables levels 4 and 9 gave files 3-5 % smaller but wrote 1.3x and
    2.5x slower and read 1.4x slower.
    """
    return tables.Filters(complevel=1, complib="zlib", shuffle=True)


class HdfWriteError(ValueError):
    """Data handed to the writer is inconsistent; the message names the file, table and column."""


def _ascii(text: str) -> np.bytes_:
    return np.bytes_(str(text).encode("ascii", errors="replace"))


class _TableState:
    """A table and its index table, each behind a (compressing) appender."""

    def __init__(
        self,
        table: tables.Table,
        index: tables.Table,
        ragged: bool,
        pool: ThreadPoolExecutor | None,
    ) -> None:
        self.table = table
        self.rows = ChunkedAppender(table, pool)
        self.index = ChunkedAppender(index, None)
        self.ragged = ragged
        self.columns = [n for n in table.dtype.names if n not in HEADER_NAMES]


class HdfwriterWriter:
    """Appendable writer of hdfwriter-layout tables (context manager).

    Parameters
    ----------
    path : str or os.PathLike
        The hdf5 file.
    mode : {"w", "a"}
        "w" creates (or overwrites) the file; "a" appends to tables of an existing file.
    filters : tables.Filters, optional
        Compression; default :func:`default_filters`.
    threads : int, optional
        Threads compressing full chunks in the background (:mod:`egenerator.io.chunks`);
        default min(4, CPU count); 0 compresses in the calling thread, through PyTables.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        mode: str = "w",
        filters: tables.Filters | None = None,
        threads: int | None = None,
    ) -> None:
        if mode not in ("w", "a"):
            raise HdfWriteError(f"{path}: mode must be 'w' or 'a', got {mode!r}")
        self.path = os.fspath(path)
        self.filters = filters if filters is not None else default_filters()
        try:
            self._file = tables.open_file(self.path, mode=mode)
        except (OSError, tables.HDF5ExtError) as err:
            raise HdfWriteError(f"{self.path}: cannot open for writing: {err}") from None
        self._tables: dict[str, _TableState] = {}
        threads = min(4, os.cpu_count() or 1) if threads is None else int(threads)
        self._pool = ThreadPoolExecutor(threads, "hdf5-deflate") if threads > 0 else None
        if INDEX_GROUP not in self._file.root:
            # Groups get no timestamps from PyTables; tables below are created without.
            self._file.create_group("/", INDEX_GROUP)
        else:
            for node in self._file.root:
                if isinstance(node, tables.Table) and node.name in self._file.root[INDEX_GROUP]:
                    flag = (
                        node.attrs["__I3RaggedTable__"] if "__I3RaggedTable__" in node.attrs else 0
                    )
                    ragged = bool(np.asarray(flag).ravel()[0])
                    index = self._file.root[INDEX_GROUP][node.name]
                    self._tables[node.name] = _TableState(node, index, ragged, self._pool)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> HdfwriterWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Write every queued row, then close the file (idempotent)."""
        if getattr(self, "_file", None) is None:
            return
        try:
            for state in self._tables.values():
                state.rows.flush()
                state.index.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._file.close()
            self._file = None

    @property
    def table_names(self) -> list[str]:
        """Names of the tables written so far."""
        return list(self._tables)

    def num_rows(self, name: str) -> int:
        """Rows written to table ``name`` so far."""
        if name not in self._tables:
            raise HdfWriteError(f"{self.path}: no table '{name}'; tables: {self.table_names}")
        return int(self._tables[name].rows.num_rows)

    # ------------------------------------------------------------------ public appends
    def append_event_table(
        self,
        name: str,
        event_ids: np.ndarray,
        columns: Mapping[str, np.ndarray],
        *,
        exists: np.ndarray | None = None,
        units: Mapping[str, str] | None = None,
        docs: Mapping[str, str] | None = None,
    ) -> None:
        """Append one row per event (labels, particles, event headers, readout windows).

        Parameters
        ----------
        name : str
            Table name (the frame key).
        event_ids : [E, 4] int
            (Run, Event, SubEvent, SubEventStream) per event.
        columns : dict of str -> [E] array
            Column values in column order; the first append fixes names and dtypes.
        exists : [E] bool, optional
            False where the object was missing from the frame (its row is then written with
            whatever values are given, usually zeros, as hdfwriter does). Default all True.
        units, docs : dict of str -> str, optional
            ``FIELD_k_UNIT`` / ``FIELD_k_DOC`` attributes (used when the table is created).
        """
        event_ids = self._check_ids(name, event_ids)
        rows = np.ones(event_ids.shape[0], dtype=np.int64)
        self._append(name, event_ids, rows, columns, exists, units, docs, ragged=False)

    def append_ragged_table(
        self,
        name: str,
        event_ids: np.ndarray,
        rows_per_event: np.ndarray,
        columns: Mapping[str, np.ndarray],
        *,
        exists: np.ndarray | None = None,
        units: Mapping[str, str] | None = None,
        docs: Mapping[str, str] | None = None,
    ) -> None:
        """Append a variable number of rows per event (pulses, DOM lists, time windows).

        ``rows_per_event`` [E] gives each event's row count (0 for an empty series); the
        column arrays hold sum(rows_per_event) rows, event after event.
        """
        event_ids = self._check_ids(name, event_ids)
        rows = np.asarray(rows_per_event)
        if rows.shape != (event_ids.shape[0],) or (
            rows.size and (not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0)
        ):
            raise HdfWriteError(
                f"{self.path}: table '{name}': rows_per_event must be [E] = "
                f"[{event_ids.shape[0]}] non-negative integers, got shape {rows.shape} "
                f"dtype {rows.dtype}"
            )
        self._append(name, event_ids, rows.astype(np.int64), columns, exists, units, docs, True)

    # ------------------------------------------------------------------ internals
    def _check_ids(self, name: str, event_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(event_ids)
        if ids.ndim != 2 or ids.shape[1] != 4 or not np.issubdtype(ids.dtype, np.integer):
            raise HdfWriteError(
                f"{self.path}: table '{name}': event_ids must be an [E, 4] integer array "
                f"(Run, Event, SubEvent, SubEventStream), got shape {ids.shape} dtype {ids.dtype}"
            )
        ids = ids.astype(np.int64)
        for k, field in enumerate(HEADER_FIELDS[:4]):
            info = np.iinfo(np.dtype(field.dtype))
            if ids.size and (ids[:, k].min() < info.min or ids[:, k].max() > info.max):
                bad = int(np.flatnonzero((ids[:, k] < info.min) | (ids[:, k] > info.max))[0])
                raise HdfWriteError(
                    f"{self.path}: table '{name}': {field.name} of event {bad} is "
                    f"{ids[bad, k]}, outside the range of {field.dtype}"
                )
        return ids

    def _create(
        self,
        name: str,
        columns: Mapping[str, np.ndarray],
        units: Mapping[str, str] | None,
        docs: Mapping[str, str] | None,
        ragged: bool,
    ) -> _TableState:
        clash = [c for c in columns if c in HEADER_NAMES]
        if clash:
            raise HdfWriteError(
                f"{self.path}: table '{name}': column(s) {clash} are reserved for the event id"
            )
        fields = [(f.name, f.dtype) for f in HEADER_FIELDS]
        for column, values in columns.items():
            values = np.asarray(values)
            if values.dtype.kind not in "biuf":
                raise HdfWriteError(
                    f"{self.path}: table '{name}' column '{column}' has dtype {values.dtype}; "
                    "only numbers and booleans are supported"
                )
            fields.append((column, np.dtype(values.dtype.str.replace(">", "<"))))
        dtype = np.dtype(fields, align=True)
        table = self._file.create_table(
            "/",
            name,
            description=dtype,
            filters=self.filters,
            chunkshape=(max(1, CHUNK_BYTES // dtype.itemsize),),
            track_times=False,
        )
        units = {**DEFAULT_UNITS, **(units or {})}
        docs = {**DEFAULT_DOCS, **(docs or {})}
        for k, column in enumerate(dtype.names):
            table.attrs[f"FIELD_{k}_UNIT"] = _ascii(units.get(column, ""))
            table.attrs[f"FIELD_{k}_DOC"] = _ascii(docs.get(column, ""))
        table.attrs["__I3RaggedTable__"] = np.array([1 if ragged else 0], dtype=np.int8)

        idtype = index_dtype()
        index = self._file.create_table(
            f"/{INDEX_GROUP}",
            name,
            description=idtype,
            filters=self.filters,
            chunkshape=(max(1, CHUNK_BYTES // idtype.itemsize),),
            track_times=False,
        )
        for k, field in enumerate(INDEX_FIELDS):
            index.attrs[f"FIELD_{k}_UNIT"] = _ascii(field.unit)
            index.attrs[f"FIELD_{k}_DOC"] = _ascii(field.doc)
        index.attrs["__I3RaggedTable__"] = np.array([0], dtype=np.int8)
        state = _TableState(table, index, ragged, self._pool)
        self._tables[name] = state
        return state

    def _append(
        self,
        name: str,
        event_ids: np.ndarray,
        rows_per_event: np.ndarray,
        columns: Mapping[str, np.ndarray],
        exists: np.ndarray | None,
        units: Mapping[str, str] | None,
        docs: Mapping[str, str] | None,
        ragged: bool,
    ) -> None:
        if self._file is None:
            raise HdfWriteError(f"{self.path}: the writer is closed")
        num_events = event_ids.shape[0]
        num_rows = int(rows_per_event.sum())
        for column, values in columns.items():
            shape = np.shape(values)
            if shape != (num_rows,):
                raise HdfWriteError(
                    f"{self.path}: table '{name}' column '{column}' has shape {shape}, "
                    f"expected ({num_rows},) (the rows of {num_events} event(s))"
                )
        if exists is None:
            exists = np.ones(num_events, dtype=bool)
        exists = np.asarray(exists, dtype=bool)
        if exists.shape != (num_events,):
            raise HdfWriteError(
                f"{self.path}: table '{name}': exists has shape {exists.shape}, "
                f"expected ({num_events},)"
            )

        state = self._tables.get(name)
        if state is None:
            state = self._create(name, columns, units, docs, ragged)
        elif sorted(columns) != sorted(state.columns):
            raise HdfWriteError(
                f"{self.path}: table '{name}' has columns {state.columns}, got {list(columns)}"
            )
        elif state.ragged != ragged:
            kind = "ragged" if state.ragged else "one-row-per-event"
            raise HdfWriteError(f"{self.path}: table '{name}' is a {kind} table")

        dtype = state.table.dtype
        rows = np.zeros(num_rows, dtype=dtype)
        for k, column in enumerate(EVENT_ID_NAMES):
            rows[column] = np.repeat(event_ids[:, k], rows_per_event)
        rows["exists"] = np.repeat(exists, rows_per_event)
        for column in state.columns:
            target = dtype[column]
            values = np.asarray(columns[column])
            if target.kind in "iu" and values.size:
                info = np.iinfo(target)
                low, high = values.min(), values.max()
                if low < info.min or high > info.max:
                    value = low if low < info.min else high
                    raise HdfWriteError(
                        f"{self.path}: table '{name}' column '{column}' has value {value}, "
                        f"outside the range of its type {target}"
                    )
            rows[column] = values

        first_row = state.rows.num_rows
        stops = first_row + np.cumsum(rows_per_event)
        index_rows = np.zeros(num_events, dtype=state.index.table.dtype)
        for k, column in enumerate(EVENT_ID_NAMES):
            index_rows[column] = event_ids[:, k]
        index_rows["exists"] = exists
        index_rows["start"] = stops - rows_per_event
        index_rows["stop"] = stops
        state.rows.append(rows)
        state.index.append(index_rows)


# ---------------------------------------------------------------------- simulation files
# Tables write_simulation writes, in the order they are created.
SIMULATION_TABLES = (
    "I3EventHeader",
    "InIceDSTPulses",
    "MCPulsesWithoutNoise",
    "MCCascade",
    "LabelsDeepLearning",
    "BadDomsList",
    "ReadoutWindow",
)


def _write_chunk(
    writer: HdfwriterWriter, sim: SimulatedEvents, detector: DetectorTable
) -> tuple[int, int, float]:
    """Append one chunk to every simulation table; returns (pulses, mc pulses, charge)."""
    ids = simulation_tables.event_ids(sim)
    b = sim.num_events
    header = simulation_tables.event_header_columns(sim.event_number, sim.readout_window_ns)
    units, docs = units_and_docs(EVENT_HEADER_FIELDS)
    writer.append_event_table("I3EventHeader", ids, header, units=units, docs=docs)

    units, docs = units_and_docs(PULSE_FIELDS)
    rows, pulses = simulation_tables.pulse_columns(
        b, sim.pulse_event, sim.pulse_dom, sim.pulse_time_ns, sim.pulse_charge_pe, detector
    )
    writer.append_ragged_table("InIceDSTPulses", ids, rows, pulses, units=units, docs=docs)
    mc_rows, mc_pulses = simulation_tables.pulse_columns(
        b,
        sim.mc_pulse_event,
        sim.mc_pulse_dom,
        sim.mc_pulse_time_ns,
        sim.mc_pulse_charge_pe,
        detector,
        what="MC pulses",
    )
    writer.append_ragged_table(
        "MCPulsesWithoutNoise", ids, mc_rows, mc_pulses, units=units, docs=docs
    )

    units, docs = units_and_docs(PARTICLE_FIELDS)
    particle = simulation_tables.mc_cascade_columns(sim.parameters)
    writer.append_event_table("MCCascade", ids, particle, units=units, docs=docs)
    labels = simulation_tables.label_columns(sim.parameters)
    writer.append_event_table("LabelsDeepLearning", ids, labels)

    units, docs = units_and_docs(DOM_LIST_FIELDS)
    bad_rows, bad = simulation_tables.bad_dom_columns(sim, detector)
    writer.append_ragged_table("BadDomsList", ids, bad_rows, bad, units=units, docs=docs)

    units, docs = units_and_docs(TIME_WINDOW_FIELDS)
    window = simulation_tables.readout_window_columns(sim.readout_window_ns)
    writer.append_event_table("ReadoutWindow", ids, window, units=units, docs=docs)
    return int(rows.sum()), int(mc_rows.sum()), float(np.sum(sim.pulse_charge_pe))


def write_simulation(
    path: str | os.PathLike,
    events_iter: Iterable[SimulatedEvents],
    detector: DetectorTable,
    progress: bool = False,
    total_events: int | None = None,
) -> dict:
    """Stream simulated events into an hdfwriter-layout file, chunk by chunk.

    Memory stays that of one chunk. Tables: I3EventHeader, InIceDSTPulses,
    MCPulsesWithoutNoise, MCCascade, LabelsDeepLearning, BadDomsList, ReadoutWindow, and
    their ``__I3Index__`` rows (conventions: :mod:`egenerator.io.simulation_tables`).

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten; it appears only once complete).
    events_iter : iterable of SimulatedEvents
        Chunks of events, e.g. ``egenerator.sim.sampler.simulate_events(...)``. Event numbers
        must increase strictly over the whole file (events are matched by them).
    detector : DetectorTable
        The detector the DOM indices of the chunks refer to.
    progress : bool
        Show a tqdm progress bar (over events).
    total_events : int, optional
        Expected number of events, for the progress bar.

    Returns
    -------
    dict
        ``path``, ``events``, ``pulses``, ``mc_pulses``, ``charge_pe`` (total recorded charge),
        ``charge_pe_per_event``, ``pulses_per_event``, ``seconds`` (wall time including the
        simulation the iterator does), ``seconds_per_event``, ``tables``.
    """
    path = os.fspath(path)
    # written under a temporary name and renamed at the end: no half-written file at `path`
    partial = f"{path}.partial"
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_events, unit="event", desc="simulate", dynamic_ncols=True)
    events = pulses = mc_pulses = 0
    charge = 0.0
    last_number: int | None = None
    try:
        with HdfwriterWriter(partial, mode="w") as writer:
            for chunk_number, sim in enumerate(events_iter):
                numbers = np.asarray(sim.event_number, dtype=np.int64)
                if numbers.shape != (sim.num_events,):
                    raise HdfWriteError(
                        f"{path}: chunk {chunk_number}: event_number has shape {numbers.shape}, "
                        f"expected ({sim.num_events},)"
                    )
                sequence = numbers if last_number is None else np.r_[last_number, numbers]
                bad = np.flatnonzero(np.diff(sequence) <= 0)
                if bad.size:
                    k = int(bad[0])
                    raise HdfWriteError(
                        f"{path}: chunk {chunk_number}: event numbers must increase strictly "
                        f"over the file; {sequence[k + 1]} follows {sequence[k]}"
                    )
                if numbers.size:
                    last_number = int(numbers[-1])
                n_pulses, n_mc, q = _write_chunk(writer, sim, detector)
                events += sim.num_events
                pulses += n_pulses
                mc_pulses += n_mc
                charge += q
                if bar is not None:
                    bar.update(sim.num_events)
            tables_written = writer.table_names
        os.replace(partial, path)
    finally:
        if bar is not None:
            bar.close()
        if os.path.exists(partial):
            os.remove(partial)
    seconds = time.perf_counter() - start
    return {
        "path": path,
        "events": events,
        "pulses": pulses,
        "mc_pulses": mc_pulses,
        "charge_pe": charge,
        "charge_pe_per_event": charge / events if events else 0.0,
        "pulses_per_event": pulses / events if events else 0.0,
        "seconds": seconds,
        "seconds_per_event": seconds / events if events else 0.0,
        "tables": tables_written,
    }
