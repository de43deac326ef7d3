"""Appending rows to a PyTables table with chunk compression in background threads.

zlib compression dominates the cost of writing pulse tables (about 30 MB/s on one core). Full
chunks are therefore shuffled and compressed by a thread pool (zlib releases the GIL) and
stored with PyTables' direct chunk writes, while the caller goes on (e.g. simulating the next
events). The stored bytes are what HDF5's own shuffle + deflate filters produce, so every hdf5
reader decodes them as usual.

Determinism: the chunks of one ``append`` call are written to the file at the start of the next
``append`` to the same table (or at ``flush``), always in row order, so the sequence of file
operations - and hence the file's bytes - does not depend on thread timing.
"""

from __future__ import annotations

import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import tables


def supports_direct_chunks(filters: tables.Filters) -> bool:
    """Whether chunks can be encoded here: zlib (with or without shuffle), nothing else."""
    return (
        filters.complevel > 0
        and filters.complib == "zlib"
        and not filters.bitshuffle
        and not filters.fletcher32
        and filters.least_significant_digit is None
    )


def encode_chunk(rows: np.ndarray, shuffle: bool, level: int) -> bytes:
    """HDF5 filter pipeline of one chunk: byte shuffle (optional) then deflate (zlib)."""
    raw = np.ascontiguousarray(rows).view(np.uint8)
    if shuffle:
        raw = raw.reshape(-1, rows.dtype.itemsize).T.tobytes()
    else:
        raw = raw.tobytes()
    return zlib.compress(raw, level)


def concatenate_rows(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Concatenate structured arrays keeping ``dtype`` exactly.

    ``np.concatenate`` promotes structured dtypes to a canonical layout (padding and offsets
    may change), which would corrupt raw chunk bytes, and ``ndarray.copy`` leaves padding bytes
    uninitialised (files would differ from run to run); this copies into zeroed rows of the
    given layout.
    """
    out = np.zeros(sum(p.shape[0] for p in parts), dtype=dtype)  # zeroed padding bytes
    position = 0
    for part in parts:
        out[position : position + part.shape[0]] = part
        position += part.shape[0]
    return out


class ChunkedAppender:
    """Rows of one table: full chunks compressed in ``pool``, the remainder appended at flush.

    Parameters
    ----------
    table : tables.Table
        An empty or chunk-aligned table (otherwise every row goes through ``Table.append``).
    pool : ThreadPoolExecutor or None
        Threads for compression; None: plain ``Table.append``.
    """

    def __init__(self, table: tables.Table, pool: ThreadPoolExecutor | None) -> None:
        self.table = table
        self.chunk_rows = int(table.chunkshape[0])
        filters = table.filters
        self._direct = (
            pool is not None
            and supports_direct_chunks(filters)
            and table.nrows % self.chunk_rows == 0
        )
        self._pool = pool
        self._shuffle = bool(filters.shuffle)
        self._level = int(filters.complevel)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._in_flight: list[tuple[int, Future]] = []
        self._next_chunk_row = int(table.nrows)
        self.num_rows = int(table.nrows)  # rows appended so far, written or not

    def append(self, rows: np.ndarray) -> None:
        """Queue ``rows`` (a structured array of the table's dtype)."""
        self._write_in_flight()
        if rows.shape[0] == 0:
            return
        self.num_rows += rows.shape[0]
        if not self._direct:
            self.table.append(rows)
            return
        if rows.dtype != self.table.dtype or rows.dtype.itemsize != self.table.dtype.itemsize:
            raise ValueError(
                f"rows of dtype {rows.dtype} appended to table '{self.table.name}' of dtype "
                f"{self.table.dtype}"
            )
        self._pending.append(rows)
        self._pending_rows += rows.shape[0]
        if self._pending_rows < self.chunk_rows:
            return
        pending = concatenate_rows(self._pending, self.table.dtype)
        num_full = pending.shape[0] // self.chunk_rows
        for k in range(num_full):
            # not .copy(): numpy leaves the padding bytes of a structured copy uninitialised
            rows_k = pending[k * self.chunk_rows : (k + 1) * self.chunk_rows]
            chunk = concatenate_rows([rows_k], self.table.dtype)
            future = self._pool.submit(encode_chunk, chunk, self._shuffle, self._level)
            self._in_flight.append((self._next_chunk_row, future))
            self._next_chunk_row += self.chunk_rows
        rest = pending[num_full * self.chunk_rows :]
        self._pending = [concatenate_rows([rest], self.table.dtype)] if rest.shape[0] else []
        self._pending_rows = rest.shape[0]

    def _write_in_flight(self) -> None:
        for first_row, future in self._in_flight:
            data = future.result()
            self.table.truncate(first_row + self.chunk_rows)
            self.table.write_chunk((first_row,), data)
        self._in_flight = []

    def flush(self) -> None:
        """Write every queued row (the last, partial chunk through ``Table.append``)."""
        self._write_in_flight()
        if self._pending_rows:
            self.table.append(concatenate_rows(self._pending, self.table.dtype))
            self._pending = []
            self._pending_rows = 0
            # the table is no longer chunk-aligned: later rows go through Table.append
            self._direct = False
        self.table.flush()
