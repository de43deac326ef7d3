"""Reading IceTray hdfwriter files (and the files our writer makes) with h5py.

A file holds one compound table per frame object (top-level datasets) and a group
``__I3Index__`` with, per table, one row per event: ``(Run, Event, SubEvent, SubEventStream,
exists, start, stop)``, the event's row range ``[start, stop)`` in that table. Everything here
reads whole columns at once; nothing loops over rows in Python.

Note on the real IceCube files: the index rows may carry a different ``SubEventStream`` than the
table rows (the shared file: 0 in ``__I3Index__``, 6 in the tables). :meth:`event_index` and
:meth:`event_ids` always return the index's values, the same for every table of a file, so
events match across tables by those ids.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from .schema import EVENT_ID_NAMES

INDEX_GROUP = "__I3Index__"

# What event_index returns: signed 64-bit ids and offsets (unsigned offsets would turn
# ``stop - start`` arithmetic with Python ints into float64), exists as bool.
EVENT_INDEX_DTYPE = np.dtype(
    [
        ("Run", np.int64),
        ("Event", np.int64),
        ("SubEvent", np.int64),
        ("SubEventStream", np.int64),
        ("exists", np.bool_),
        ("start", np.int64),
        ("stop", np.int64),
    ]
)


class HdfFormatError(ValueError):
    """An hdf5 file is missing, unreadable, or does not have the hdfwriter layout expected.

    The message names the file, the table, the column/key and the offending value.
    """


class HdfwriterFile:
    """Read-only view of an hdfwriter-layout hdf5 file (context manager).

    Parameters
    ----------
    path : str or os.PathLike
        The hdf5 file.

    Raises
    ------
    HdfFormatError
        The file does not exist, is not hdf5, or is truncated.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path: str = os.fspath(path)
        if not os.path.exists(self.path):
            raise HdfFormatError(f"{self.path}: file does not exist")
        if os.path.isdir(self.path):
            raise HdfFormatError(f"{self.path}: is a directory, expected an hdf5 file")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise HdfFormatError(
                f"{self.path}: not a readable hdf5 file (truncated or not hdf5?): {err}"
            ) from None
        self._index_cache: dict[str, np.ndarray] = {}
        try:
            self.tables: list[str] = self._list_tables()
        except HdfFormatError:
            self._file.close()
            raise

    _H5_ERRORS = (OSError, KeyError, RuntimeError)

    def _list_tables(self) -> list[str]:
        try:
            names = list(self._file.keys())
        except self._H5_ERRORS as err:
            raise HdfFormatError(
                f"{self.path}: the file's table list cannot be read (file truncated or "
                f"corrupt?): {err}"
            ) from None
        tables = []
        for name in names:
            if name == INDEX_GROUP:
                continue
            try:
                obj = self._file[name]
            except self._H5_ERRORS as err:
                raise HdfFormatError(
                    f"{self.path}: object '{name}' cannot be opened (file corrupt?): {err}"
                ) from None
            if isinstance(obj, h5py.Dataset) and obj.dtype.names is not None:
                tables.append(name)
        return sorted(tables)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> HdfwriterFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying h5py file (idempotent)."""
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"HdfwriterFile({self.path!r}, tables={self.tables})"

    # ------------------------------------------------------------------ tables and columns
    def has_table(self, name: str) -> bool:
        """Whether the file holds the frame-object table ``name``."""
        return name in self.tables

    def _dataset(self, name: str) -> h5py.Dataset:
        if self._file is None:
            raise HdfFormatError(f"{self.path}: the file is closed")
        if name not in self.tables:
            raise HdfFormatError(f"{self.path}: table '{name}' not found; tables: {self.tables}")
        return self._file[name]

    def columns(self, name: str) -> list[str]:
        """Column names of table ``name`` in file order."""
        return list(self._dataset(name).dtype.names)

    def num_rows(self, name: str) -> int:
        """Number of rows of table ``name``."""
        return int(self._dataset(name).shape[0])

    def _check_columns(self, name: str, columns: list[str]) -> None:
        available = self.columns(name)
        for column in columns:
            if column not in available:
                raise HdfFormatError(
                    f"{self.path}: table '{name}' has no column '{column}'; columns: {available}"
                )

    def read_table(self, name: str, columns: list[str] | None = None) -> np.ndarray:
        """The whole table (or the given columns of it) as a structured array."""
        dataset = self._dataset(name)
        try:
            if columns is None:
                return dataset[()]
            columns = list(columns)
            self._check_columns(name, columns)
            return dataset.fields(columns)[()]
        except self._H5_ERRORS as err:
            raise HdfFormatError(
                f"{self.path}: table '{name}' cannot be read (file truncated or corrupt?): {err}"
            ) from None

    def read_column(self, name: str, column: str) -> np.ndarray:
        """One whole column of table ``name`` as a plain array."""
        dataset = self._dataset(name)
        self._check_columns(name, [column])
        try:
            return np.asarray(dataset.fields(column)[()])
        except self._H5_ERRORS as err:
            raise HdfFormatError(
                f"{self.path}: table '{name}' column '{column}' cannot be read "
                f"(file truncated or corrupt?): {err}"
            ) from None

    # ------------------------------------------------------------------ event index
    def event_index(self, name: str) -> np.ndarray:
        """Per-event row ranges of table ``name`` (:data:`EVENT_INDEX_DTYPE`).

        Read from ``__I3Index__/<name>`` when present (validated: rows contiguous from 0 to
        the table's length), else derived from the table's own id columns: consecutive rows
        with equal (Run, Event, SubEvent, SubEventStream) are one event.
        """
        if name in self._index_cache:
            return self._index_cache[name]
        num_rows = self.num_rows(name)
        index_path = f"{INDEX_GROUP}/{name}"
        try:
            has_index = index_path in self._file
        except self._H5_ERRORS as err:
            raise HdfFormatError(
                f"{self.path}: group '{INDEX_GROUP}' cannot be read (file corrupt?): {err}"
            ) from None
        if has_index:
            index = self._read_index(index_path, name, num_rows)
        else:
            index = self._derive_index(name, num_rows)
        index.setflags(write=False)
        self._index_cache[name] = index
        return index

    def _read_index(self, index_path: str, name: str, num_rows: int) -> np.ndarray:
        where = f"{self.path}: index '{index_path}'"
        try:
            dataset = self._file[index_path]
        except self._H5_ERRORS as err:
            raise HdfFormatError(f"{where} cannot be opened (file corrupt?): {err}") from None
        needed = EVENT_INDEX_DTYPE.names
        if dataset.dtype.names is None or any(c not in dataset.dtype.names for c in needed):
            raise HdfFormatError(
                f"{where} lacks columns; has {dataset.dtype.names}, needs {list(needed)}"
            )
        try:
            raw = dataset[()]
        except self._H5_ERRORS as err:
            raise HdfFormatError(f"{where} cannot be read (truncated or corrupt?): {err}") from None
        index = np.empty(raw.shape[0], dtype=EVENT_INDEX_DTYPE)
        for column in needed:
            index[column] = raw[column]
        start, stop = index["start"], index["stop"]
        bad = np.flatnonzero(stop < start)
        if bad.size:
            k = int(bad[0])
            raise HdfFormatError(
                f"{where} row {k}: stop {stop[k]} < start {start[k]} (table '{name}')"
            )
        expected_start = np.concatenate([[0], stop[:-1]])
        bad = np.flatnonzero(start != expected_start)
        if bad.size:
            k = int(bad[0])
            raise HdfFormatError(
                f"{where} row {k}: start {start[k]} does not continue the previous row's "
                f"stop {expected_start[k]} (table '{name}' row ranges must be contiguous)"
            )
        total = int(stop[-1]) if stop.size else 0
        if total != num_rows:
            raise HdfFormatError(
                f"{where}: the index covers {total} rows but table '{name}' has {num_rows} rows"
            )
        return index

    def _derive_index(self, name: str, num_rows: int) -> np.ndarray:
        present = self.columns(name)
        missing = [c for c in EVENT_ID_NAMES if c not in present]
        if missing:
            raise HdfFormatError(
                f"{self.path}: table '{name}' has no index in '{INDEX_GROUP}' and lacks the "
                f"event-id column(s) {missing}; columns: {present}"
            )
        id_columns = list(EVENT_ID_NAMES) + (["exists"] if "exists" in present else [])
        rows = self.read_table(name, id_columns)
        ids = np.stack([rows[c].astype(np.int64) for c in EVENT_ID_NAMES], axis=1)
        if num_rows == 0:
            return np.empty(0, dtype=EVENT_INDEX_DTYPE)
        new_event = np.concatenate([[True], np.any(ids[1:] != ids[:-1], axis=1)])
        starts = np.flatnonzero(new_event)
        stops = np.concatenate([starts[1:], [num_rows]])
        index = np.empty(starts.size, dtype=EVENT_INDEX_DTYPE)
        for k, column in enumerate(EVENT_ID_NAMES):
            index[column] = ids[starts, k]
        index["exists"] = rows["exists"][starts] != 0 if "exists" in present else True
        index["start"] = starts
        index["stop"] = stops
        return index

    def event_ids(self, name: str) -> np.ndarray:
        """[E, 4] int64 (Run, Event, SubEvent, SubEventStream) of events where ``name`` exists."""
        index = self.event_index(name)
        present = index[index["exists"]]
        return np.stack([present[c] for c in EVENT_ID_NAMES], axis=1).reshape(-1, 4)
