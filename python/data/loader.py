"""hdfwriter files -> EventBatch: pulses, labels, exclusions, time windows, filters.

Conventions (decided here; see resources/docs for the user-facing summary):

- Events are matched across tables through each table's ``__I3Index__`` rows (Run, Event,
  SubEvent, SubEventStream); index rows with ``exists == 0`` count as absent. ``event_id`` of
  a batch is the index id. The event order is that of the ``event_id_key`` table (default: the
  pulse table).
- *Required* tables: the event table, the pulse table, the label table (when parameters or
  additional labels are requested), every filter table and the weight table. A required table
  missing from a file is an error; an event absent from some required table is an error, or is
  skipped and counted with ``skip_incomplete_events``. Per-event tables (labels, filters,
  weights, readout window) must hold exactly one row per event.
- Exclusion tables (``dom_exclusions_key``: rows ``string, om``; ``time_exclusions_key``: rows
  ``string, om, start, stop`` [ns]) are optional per event (absent: nothing excluded). A table
  missing from the whole file is an error unless it is listed in ``optional_keys``.
- Readout window: the ``readout_window_key`` table (``start, stop``) when the file has it and
  the event is in it; otherwise [first pulse - buffer, last pulse + buffer] over the event's
  pulses on detector DOMs; an empty event without a window gets [-buffer, +buffer]. Windows
  are widened to hold every pulse (counted in ``pulses_outside_readout_window``).
- Pulses on DOMs that are not in the detector table (IceTop om > 60, unknown strings) are
  dropped and counted. NaN/inf/negative charge or non-finite time is an error naming file,
  table, column and row (or, with ``skip_invalid_events``, the event is skipped and counted);
  so are non-finite labels and non-finite or negative weights.
- Time windows: overlapping or touching windows of one DOM are merged; pulses in
  ``[start, stop)`` are removed; windows are clipped to the readout window; a DOM whose
  windows cover its whole readout window is marked invalid. ``dom_charge`` sums the pulses
  that remain.
- DOM validity: DOMs of the exclusion tables, the detector's dead DOMs (with
  ``exclude_dead_doms``) and bright DOMs (with ``exclude_bright_doms``: charge > fraction x
  event charge AND > threshold PE, both computed after the time-window removal over all
  detector DOMs) are invalid. With ``discard_pulses_from_excluded_doms`` their pulses and
  windows are dropped and their ``dom_charge`` is 0; otherwise they stay in the batch (the
  losses ignore invalid DOMs).
- ``add_charge_quantiles`` is accepted for compatibility and has no effect.

Everything is vectorised over whole columns; there is no Python loop over events or pulses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from ..detector import DetectorTable
from ..io.reader import HdfwriterFile
from .batch import EventBatch
from .dom_lookup import DomLookup
from .errors import EventDataError, format_event_id
from .event_matching import find_duplicates, gather_ranges, lookup, ordered_union
from .exclusions import bright_dom_mask, merge_windows, pulses_in_windows
from .fast_columns import read_columns_fast
from .labels import resolve_label_columns
from .settings import DataHandlerSettings

_ID_COLUMNS = ("Run", "Event", "SubEvent", "SubEventStream")
_OPERATORS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass
class LoadStats:
    """What happened to the events and pulses of one or more files (counts)."""

    files: int = 0
    events_in_files: int = 0
    events_loaded: int = 0
    skipped_incomplete: int = 0
    skipped_invalid: int = 0
    filtered_out: int = 0
    pulses_loaded: int = 0
    pulses_unknown_dom: int = 0
    pulses_in_exclusion_windows: int = 0
    pulses_on_excluded_doms_discarded: int = 0
    pulses_outside_readout_window: int = 0
    exclusions_unknown_dom: int = 0
    bright_doms: int = 0

    def add(self, other: LoadStats) -> None:
        """Accumulate another file's counts."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class LoadedEvents:
    """The events of one file (or several, concatenated) plus what the batch cannot hold.

    Attributes
    ----------
    batch : EventBatch
    additional_labels : dict name -> [B] float64
    stats : LoadStats
    pulse_offsets, window_offsets : [B + 1] int64
        Pulses (windows) of event b are rows ``offsets[b]:offsets[b + 1]``.
    """

    batch: EventBatch
    additional_labels: dict[str, np.ndarray] = field(default_factory=dict)
    stats: LoadStats = field(default_factory=LoadStats)
    pulse_offsets: np.ndarray | None = None
    window_offsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        events = np.arange(self.batch.num_events + 1)
        if self.pulse_offsets is None:
            self.pulse_offsets = np.searchsorted(self.batch.pulse_event, events)
        if self.window_offsets is None:
            self.window_offsets = np.searchsorted(self.batch.window_event, events)

    @property
    def num_events(self) -> int:
        return self.batch.num_events

    def take(self, events: np.ndarray) -> EventBatch:
        """A batch of the given events (in that order), gathering pulse ranges directly."""
        return take_events(self.batch, self.pulse_offsets, self.window_offsets, events)


def take_events(
    batch: EventBatch, pulse_offsets: np.ndarray, window_offsets: np.ndarray, events: np.ndarray
) -> EventBatch:
    """Like :meth:`EventBatch.select` but O(selected pulses), using per-event offsets."""
    events = np.asarray(events, dtype=np.int64)
    p_rows, p_owner = gather_ranges(pulse_offsets[events], pulse_offsets[events + 1])
    w_rows, w_owner = gather_ranges(window_offsets[events], window_offsets[events + 1])
    return EventBatch(
        parameters=batch.parameters[events],
        pulse_charge_pe=batch.pulse_charge_pe[p_rows],
        pulse_time_ns=batch.pulse_time_ns[p_rows],
        pulse_event=p_owner,
        pulse_dom=batch.pulse_dom[p_rows],
        dom_charge=batch.dom_charge[events],
        dom_valid=batch.dom_valid[events],
        time_window_ns=batch.time_window_ns[events],
        window_exclusions_ns=batch.window_exclusions_ns[w_rows],
        window_event=w_owner,
        window_dom=batch.window_dom[w_rows],
        event_id=batch.event_id[events],
        weights=batch.weights[events],
    )


class EventFileReader:
    """Reads the events of hdfwriter files into :class:`LoadedEvents` (one file per call).

    Parameters
    ----------
    settings : DataHandlerSettings or mapping
        The config's ``data_handler_settings`` (validated if a mapping).
    parameter_names : sequence of str
        Model parameters read from the label table (may be empty: ``parameters`` is [B, 0]).
    detector : DetectorTable
        DOM index = row of this table.
    """

    def __init__(
        self,
        settings: DataHandlerSettings | dict,
        parameter_names: Sequence[str],
        detector: DetectorTable,
    ) -> None:
        self.settings = DataHandlerSettings.from_config(settings)
        self.parameter_names = tuple(parameter_names)
        self.detector = detector
        self._dead = np.asarray(detector.dead, dtype=bool)
        self._dom_index = DomLookup(detector)
        if self.settings.add_charge_quantiles:
            logging.getLogger(__name__).info(
                "data_settings.add_charge_quantiles is accepted for compatibility and ignored: "
                "the models here take charges and pulse times directly"
            )

    # ------------------------------------------------------------------ helpers
    def _required_tables(self) -> list[str]:
        s = self.settings
        tables = [s.event_table, s.pulse_key]
        if self.parameter_names or s.additional_labels:
            tables.append(s.label_key)
        tables += [c[0] for c in s.constraints]
        if s.event_weights:
            tables.append(s.event_weights[0])
        return list(dict.fromkeys(tables))

    @staticmethod
    def _check_columns(path, hfile, table, wanted, role) -> None:
        have = list(hfile.columns(table))
        missing = [c for c in wanted if c not in have]
        if missing:
            raise EventDataError(
                f"{path}: table '{table}' ({role}) has no column(s) {missing}; columns are {have}"
            )

    @staticmethod
    def _index(path, hfile, table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids [R, 4], start [R], stop [R] of the existing index rows of a table."""
        index = hfile.event_index(table)
        exists = np.asarray(index["exists"]) != 0
        ids = np.stack([np.asarray(index[c], dtype=np.int64) for c in _ID_COLUMNS], axis=1)
        ids = ids[exists]
        dup = find_duplicates(ids)
        if len(dup):
            raise EventDataError(
                f"{path}: table '{table}' lists event {format_event_id(ids[dup[0]])} "
                "more than once in __I3Index__"
            )
        start = np.asarray(index["start"], dtype=np.int64)[exists]
        stop = np.asarray(index["stop"], dtype=np.int64)[exists]
        return ids, start, stop

    @staticmethod
    def _one_row(path, table, start, stop, event_ids) -> np.ndarray:
        counts = stop - start
        bad = np.flatnonzero(counts != 1)
        if len(bad):
            raise EventDataError(
                f"{path}: table '{table}' has {int(counts[bad[0]])} rows for event "
                f"{format_event_id(event_ids[bad[0]])}, expected exactly 1"
            )
        return start

    def _present_tables(self, path, hfile, names, role) -> list[str]:
        present = []
        for name in names:
            if hfile.has_table(name):
                present.append(name)
            elif name not in self.settings.optional_keys:
                raise EventDataError(
                    f"{path}: {role} table '{name}' is missing (tables are "
                    f"{sorted(hfile.tables)}); list it in data_settings.optional_keys to "
                    "skip it where absent"
                )
        return present

    def _rows_of_events(self, path, hfile, table, event_ids):
        """Rows of the (optional-per-event) table for the events, and the event of each row."""
        ids, start, stop = self._index(path, hfile, table)
        pos = lookup(ids, event_ids)
        found = np.flatnonzero(pos >= 0)
        rows, owner = gather_ranges(start[pos[found]], stop[pos[found]])
        return rows, found[owner]

    # ------------------------------------------------------------------ main
    def read(
        self, path: str | os.PathLike, first_event: int = 0, num_events: int | None = None
    ) -> LoadedEvents:
        """Read the events of one file (all, or the piece ``first_event:first_event+num_events``).

        Event positions count the file's event list (see :meth:`count_events`) before any
        skipping or filtering, so pieces of a file never overlap and together cover it.

        Raises
        ------
        EventDataError
            Missing table/column, incomplete or invalid events (unless configured to skip),
            malformed per-event tables; messages name file, table, column, row / event id.
        """
        path = os.fspath(path)
        with HdfwriterFile(path) as hfile:
            return self._read(path, hfile, first_event, num_events)

    def count_events(self, path: str | os.PathLike) -> int:
        """Length of the file's event list (union of the required tables' events)."""
        path = os.fspath(path)
        with HdfwriterFile(path) as hfile:
            required = self._check_required(path, hfile)
            ids = [self._index(path, hfile, t)[0] for t in required]
        return len(ordered_union(ids))

    def _check_required(self, path: str, hfile) -> list[str]:
        required = self._required_tables()
        for table in required:
            if not hfile.has_table(table):
                raise EventDataError(
                    f"{path}: required table '{table}' is missing (tables are "
                    f"{sorted(hfile.tables)})"
                )
        return required

    def _read(self, path: str, hfile, first_event: int, num_events: int | None) -> LoadedEvents:
        s = self.settings
        det = self.detector
        num_doms = det.num_doms
        stats = LoadStats(files=1 if first_event == 0 else 0)

        required = self._check_required(path, hfile)
        self._check_columns(path, hfile, s.pulse_key, ("string", "om", "time", "charge"), "pulses")
        dom_tables = self._present_tables(path, hfile, s.dom_exclusions_key, "DOM exclusion")
        time_tables = self._present_tables(path, hfile, s.time_exclusions_key, "time exclusion")
        for table in dom_tables:
            self._check_columns(path, hfile, table, ("string", "om"), "DOM exclusions")
        for table in time_tables:
            self._check_columns(
                path, hfile, table, ("string", "om", "start", "stop"), "time exclusions"
            )

        # ---------------------------------------------------------- events
        index = {t: self._index(path, hfile, t) for t in required}
        event_ids = ordered_union([index[s.event_table][0]] + [index[t][0] for t in required])
        in_piece = np.zeros(len(event_ids), dtype=bool)
        stop = len(event_ids) if num_events is None else first_event + num_events
        in_piece[max(first_event, 0) : max(stop, 0)] = True
        stats.events_in_files = int(in_piece.sum())
        positions = {t: lookup(index[t][0], event_ids) for t in required}
        missing = np.stack([positions[t] < 0 for t in required])  # [tables, events]
        complete = ~missing.any(axis=0) | ~in_piece
        if not np.all(complete) and not s.skip_incomplete_events:
            first = int(np.flatnonzero(~complete)[0])
            tables = [t for t, m in zip(required, missing[:, first], strict=True) if m]
            raise EventDataError(
                f"{path}: event {format_event_id(event_ids[first])} is missing from table "
                f"'{tables[0]}'"
                + (f" (and {tables[1:]})" if len(tables) > 1 else "")
                + f"; {int((~complete).sum())} incomplete event(s) in the file; set "
                "data_settings.skip_incomplete_events to skip such events"
            )
        stats.skipped_incomplete = int((~complete).sum())
        keep = complete & in_piece

        def per_event_rows(table: str, selected: np.ndarray) -> np.ndarray:
            _, start, stop = index[table]
            pos = positions[table][selected]
            return self._one_row(path, table, start[pos], stop[pos], event_ids[selected])

        # ---------------------------------------------------------- filters
        for table, column, op, threshold in s.constraints:
            self._check_columns(path, hfile, table, (column,), "filter")
            selected = np.flatnonzero(keep)
            rows = per_event_rows(table, selected)
            values = np.asarray(hfile.read_column(table, column))[rows].astype(np.float64)
            passed = _OPERATORS[op](values, threshold)
            stats.filtered_out += int((~passed).sum())
            keep[selected[~passed]] = False

        selected = np.flatnonzero(keep)
        invalid = np.zeros(len(selected), dtype=bool)
        invalid_reason: list[str] = []

        def flag_invalid(bad_events: np.ndarray, message: str) -> None:
            if len(bad_events) == 0:
                return
            if not s.skip_invalid_events:
                raise EventDataError(
                    message + "; set data_settings.skip_invalid_events to skip such events"
                )
            invalid[bad_events] = True
            invalid_reason.append(message)

        # ---------------------------------------------------------- labels, weights
        num_params = len(self.parameter_names)
        parameters = np.zeros((len(selected), num_params), dtype=np.float64)
        additional: dict[str, np.ndarray] = {}
        if num_params or s.additional_labels:
            table = s.label_key
            label_cols = resolve_label_columns(
                self.parameter_names,
                hfile.columns(table),
                dict(s.label_columns),
                source=path,
                table=table,
            )
            self._check_columns(path, hfile, table, s.additional_labels, "labels")
            wanted = list(dict.fromkeys(label_cols + list(s.additional_labels)))
            rows = per_event_rows(table, selected)
            label_table = hfile.read_table(table, columns=wanted)
            for k, column in enumerate(label_cols):
                values = np.asarray(label_table[column], dtype=np.float64)[rows]
                parameters[:, k] = values
                bad = np.flatnonzero(~np.isfinite(values))
                if len(bad):
                    flag_invalid(
                        bad,
                        f"{path}: table '{table}' column '{column}' row {int(rows[bad[0]])} "
                        f"(event {format_event_id(event_ids[selected[bad[0]]])}) is "
                        f"{values[bad[0]]}",
                    )
            for column in s.additional_labels:
                additional[column] = np.asarray(label_table[column], dtype=np.float64)[rows]
        weights = np.ones(len(selected), dtype=np.float64)
        if s.event_weights:
            table, column = s.event_weights
            self._check_columns(path, hfile, table, (column,), "event weights")
            rows = per_event_rows(table, selected)
            weights = np.asarray(hfile.read_column(table, column), dtype=np.float64)[rows]
            bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
            if len(bad):
                flag_invalid(
                    bad,
                    f"{path}: table '{table}' column '{column}' row {int(rows[bad[0]])} "
                    f"(event {format_event_id(event_ids[selected[bad[0]]])}) is "
                    f"{weights[bad[0]]}, expected a finite weight >= 0",
                )

        # ---------------------------------------------------------- pulses
        _, p_start, p_stop = index[s.pulse_key]
        p_pos = positions[s.pulse_key][selected]
        rows, pulse_event = gather_ranges(p_start[p_pos], p_stop[p_pos])
        pulse_columns = ("string", "om", "time", "charge")
        num_rows = hfile.num_rows(s.pulse_key)
        if len(rows) and rows.max() >= num_rows:
            raise EventDataError(
                f"{path}: __I3Index__/{s.pulse_key} points to row {int(rows.max())} but the "
                f"table has {num_rows} rows"
            )
        # read only the rows spanned by this piece's events
        first_row = int(rows.min()) if len(rows) else 0
        last_row = int(rows.max()) + 1 if len(rows) else 0
        pulse_table = read_columns_fast(
            path, s.pulse_key, pulse_columns, num_threads=1, row_range=(first_row, last_row)
        )
        if pulse_table is None:
            structured = hfile.read_table(s.pulse_key, columns=list(pulse_columns))
            pulse_table = {c: structured[c][first_row:last_row] for c in pulse_columns}
        row_numbers = rows  # table row of each gathered pulse (for messages)
        rows = rows - first_row
        span = last_row - first_row
        if len(rows) == span and (span == 0 or (rows[0] == 0 and np.all(np.diff(rows) == 1))):
            rows = slice(None)  # every row of the span, in file order: no gather needed
        charge = np.asarray(pulse_table["charge"], dtype=np.float64)[rows]
        time_ns = np.asarray(pulse_table["time"], dtype=np.float64)[rows]
        string = np.asarray(pulse_table["string"])[rows]
        om = np.asarray(pulse_table["om"])[rows]
        del pulse_table
        for column, values, bad_mask, what in (
            ("charge", charge, ~np.isfinite(charge) | (charge < 0), "expected finite >= 0"),
            ("time", time_ns, ~np.isfinite(time_ns), "expected finite"),
        ):
            bad = np.flatnonzero(bad_mask)
            if len(bad):
                flag_invalid(
                    np.unique(pulse_event[bad]),
                    f"{path}: table '{s.pulse_key}' column '{column}' "
                    f"row {int(row_numbers[bad[0]])} "
                    f"(event {format_event_id(event_ids[selected[pulse_event[bad[0]]]])}) is "
                    f"{values[bad[0]]}, {what}",
                )

        # drop invalid events, renumber
        if np.any(invalid):
            stats.skipped_invalid = int(invalid.sum())
            remap = np.cumsum(~invalid) - 1
            keep_pulse = ~invalid[pulse_event]
            charge, time_ns, string, om = (a[keep_pulse] for a in (charge, time_ns, string, om))
            pulse_event = remap[pulse_event[keep_pulse]]
            parameters = parameters[~invalid]
            weights = weights[~invalid]
            additional = {k: v[~invalid] for k, v in additional.items()}
            selected = selected[~invalid]
        num_events = len(selected)
        ids = event_ids[selected]

        dom = self._dom_index(string, om)
        known = dom >= 0
        stats.pulses_unknown_dom = int((~known).sum())
        if not np.all(known):
            charge, time_ns, dom, pulse_event = (
                a[known] for a in (charge, time_ns, dom, pulse_event)
            )
        # order by (event, dom, time); files are usually ordered already
        group = pulse_event * num_doms + dom
        if len(group) > 1:
            same = group[1:] == group[:-1]
            ordered = np.all((group[1:] > group[:-1]) | (same & (time_ns[1:] >= time_ns[:-1])))
            if not ordered:
                order = np.lexsort((time_ns, group))
                charge, time_ns, dom, pulse_event, group = (
                    a[order] for a in (charge, time_ns, dom, pulse_event, group)
                )

        # ---------------------------------------------------------- readout window
        buffer = s.time_window_buffer_ns
        first_pulse = np.full(num_events, np.inf)
        last_pulse = np.full(num_events, -np.inf)
        offsets = np.searchsorted(pulse_event, np.arange(num_events + 1))  # sorted by event
        nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
        if len(nonempty):
            first_pulse[nonempty] = np.minimum.reduceat(time_ns, offsets[nonempty])
            last_pulse[nonempty] = np.maximum.reduceat(time_ns, offsets[nonempty])
        has_pulses = np.isfinite(first_pulse)
        window = np.empty((num_events, 2), dtype=np.float64)
        window[:, 0] = np.where(has_pulses, first_pulse - buffer, -buffer)
        window[:, 1] = np.where(has_pulses, last_pulse + buffer, buffer)
        if s.readout_window_key and hfile.has_table(s.readout_window_key) and num_events:
            table = s.readout_window_key
            self._check_columns(path, hfile, table, ("start", "stop"), "readout window")
            rw_ids, rw_start, rw_stop = self._index(path, hfile, table)
            pos = lookup(rw_ids, ids)
            found = np.flatnonzero(pos >= 0)
            if len(found):
                rows = self._one_row(
                    path, table, rw_start[pos[found]], rw_stop[pos[found]], ids[found]
                )
                rw = hfile.read_table(table, columns=["start", "stop"])
                file_window = np.stack(
                    [np.asarray(rw[c], dtype=np.float64)[rows] for c in ("start", "stop")], axis=1
                )
                bad = np.flatnonzero(
                    ~np.all(np.isfinite(file_window), axis=1)
                    | (file_window[:, 1] <= file_window[:, 0])
                )
                if len(bad):
                    raise EventDataError(
                        f"{path}: table '{table}' row {int(rows[bad[0]])} (event "
                        f"{format_event_id(ids[found[bad[0]]])}) has window "
                        f"{file_window[bad[0]].tolist()}, expected finite start < stop"
                    )
                low = np.full(num_events, -np.inf)
                high = np.full(num_events, np.inf)
                low[found] = file_window[:, 0]
                high[found] = file_window[:, 1]
                outside = (time_ns < low[pulse_event]) | (time_ns > high[pulse_event])
                stats.pulses_outside_readout_window = int(outside.sum())
                window[found, 0] = np.minimum(file_window[:, 0], first_pulse[found])
                window[found, 1] = np.maximum(file_window[:, 1], last_pulse[found])

        # ---------------------------------------------------------- exclusions
        dom_valid = np.ones((num_events, num_doms), dtype=bool)
        if s.exclude_dead_doms:
            dom_valid[:, self._dead] = False
        for table in dom_tables:
            rows, owner = self._rows_of_events(path, hfile, table, ids)
            ex = hfile.read_table(table, columns=["string", "om"])
            ex_dom = self._dom_index(np.asarray(ex["string"])[rows], np.asarray(ex["om"])[rows])
            ok = ex_dom >= 0
            stats.exclusions_unknown_dom += int((~ok).sum())
            dom_valid[owner[ok], ex_dom[ok]] = False

        w_event_parts, w_dom_parts, w_start_parts, w_stop_parts = [], [], [], []
        for table in time_tables:
            rows, owner = self._rows_of_events(path, hfile, table, ids)
            tw = hfile.read_table(table, columns=["string", "om", "start", "stop"])
            tw_dom = self._dom_index(np.asarray(tw["string"])[rows], np.asarray(tw["om"])[rows])
            start = np.asarray(tw["start"], np.float64)[rows]
            stop = np.asarray(tw["stop"], np.float64)[rows]
            bad = np.flatnonzero(np.isnan(start) | np.isnan(stop))
            if len(bad):
                raise EventDataError(
                    f"{path}: table '{table}' row {int(rows[bad[0]])} (event "
                    f"{format_event_id(ids[owner[bad[0]]])}) has a NaN window bound"
                )
            ok = tw_dom >= 0
            stats.exclusions_unknown_dom += int((~ok).sum())
            w_event_parts.append(owner[ok])
            w_dom_parts.append(tw_dom[ok])
            w_start_parts.append(start[ok])
            w_stop_parts.append(stop[ok])
        if w_event_parts:
            w_event, w_dom, w_start, w_stop = merge_windows(
                np.concatenate(w_event_parts),
                np.concatenate(w_dom_parts),
                np.concatenate(w_start_parts),
                np.concatenate(w_stop_parts),
                num_doms,
            )
            inside = pulses_in_windows(
                pulse_event, dom, time_ns, w_event, w_dom, w_start, w_stop, num_doms
            )
            stats.pulses_in_exclusion_windows = int(inside.sum())
            if np.any(inside):
                keep_pulse = ~inside
                charge, time_ns, dom, pulse_event = (
                    a[keep_pulse] for a in (charge, time_ns, dom, pulse_event)
                )
            # clip to the readout window; a DOM excluded over its whole window is invalid
            covers = (w_start <= window[w_event, 0]) & (w_stop >= window[w_event, 1])
            dom_valid[w_event[covers], w_dom[covers]] = False
            w_start = np.maximum(w_start, window[w_event, 0])
            w_stop = np.minimum(w_stop, window[w_event, 1])
            nonempty = w_stop > w_start
            w_event, w_dom, w_start, w_stop = (
                a[nonempty] for a in (w_event, w_dom, w_start, w_stop)
            )
        else:
            w_event = np.zeros(0, np.int64)
            w_dom = np.zeros(0, np.int64)
            w_start = np.zeros(0, np.float64)
            w_stop = np.zeros(0, np.float64)

        dom_charge = np.bincount(
            pulse_event * num_doms + dom, weights=charge, minlength=num_events * num_doms
        ).reshape(num_events, num_doms)
        if s.exclude_bright_doms:
            bright = bright_dom_mask(
                dom_charge, s.bright_doms_threshold_fraction, s.bright_doms_threshold_charge_pe
            )
            stats.bright_doms = int(bright.sum())
            dom_valid &= ~bright
        if s.discard_pulses_from_excluded_doms:
            keep_pulse = dom_valid[pulse_event, dom]
            stats.pulses_on_excluded_doms_discarded = int((~keep_pulse).sum())
            charge, time_ns, dom, pulse_event = (
                a[keep_pulse] for a in (charge, time_ns, dom, pulse_event)
            )
            keep_window = dom_valid[w_event, w_dom]
            w_event, w_dom, w_start, w_stop = (
                a[keep_window] for a in (w_event, w_dom, w_start, w_stop)
            )
            dom_charge[~dom_valid] = 0.0

        stats.events_loaded = num_events
        stats.pulses_loaded = len(charge)
        batch = EventBatch(
            parameters=parameters,
            pulse_charge_pe=np.ascontiguousarray(charge),
            pulse_time_ns=np.ascontiguousarray(time_ns),
            pulse_event=pulse_event.astype(np.int64),
            pulse_dom=dom.astype(np.int64),
            dom_charge=dom_charge,
            dom_valid=dom_valid,
            time_window_ns=window,
            window_exclusions_ns=np.stack([w_start, w_stop], axis=1).reshape(-1, 2),
            window_event=w_event.astype(np.int64),
            window_dom=w_dom.astype(np.int64),
            event_id=ids.astype(np.int64),
            weights=weights,
        )
        return LoadedEvents(batch=batch, additional_labels=additional, stats=stats)


def concatenate_loaded(parts: list[LoadedEvents]) -> LoadedEvents:
    """Join the events of several files (in order)."""
    if not parts:
        raise ValueError("concatenate_loaded needs at least one part")
    stats = LoadStats()
    for part in parts:
        stats.add(part.stats)
    names = list(parts[0].additional_labels)
    return LoadedEvents(
        batch=EventBatch.concatenate([p.batch for p in parts]),
        additional_labels={
            k: np.concatenate([p.additional_labels[k] for p in parts]) for k in names
        },
        stats=stats,
    )


def load_events(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    data_handler_settings: DataHandlerSettings | dict,
    parameter_names: Sequence[str],
    detector: DetectorTable,
    return_details: bool = False,
) -> EventBatch | LoadedEvents:
    """Load every event of one file (or a list of files, concatenated) into an EventBatch.

    Parameters
    ----------
    path : path or list of paths
        hdfwriter file(s).
    data_handler_settings : mapping or DataHandlerSettings
        The config's ``data_handler_settings``.
    parameter_names : sequence of str
        Parameters read from the label table into ``parameters`` (may be empty).
    detector : DetectorTable
    return_details : bool
        Return :class:`LoadedEvents` (batch + additional labels + counts) instead.
    """
    reader = EventFileReader(data_handler_settings, parameter_names, detector)
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths:
        raise ValueError("load_events: no input files")
    loaded = concatenate_loaded([reader.read(p) for p in paths])
    return loaded if return_details else loaded.batch
