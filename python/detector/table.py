"""The DOM table: one row per optical module, the index every tensor uses for DOMs."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numpy as np

CSV_COLUMNS = ("string", "om", "x", "y", "z", "efficiency", "noise_rate_hz", "dead")
_REQUIRED_COLUMNS = ("string", "om", "x", "y", "z", "efficiency", "noise_rate_hz")


class DetectorTableError(ValueError):
    """A detector table (file or arrays) is missing columns or holds inconsistent values."""


@dataclass(frozen=True)
class DetectorTable:
    """Optical modules of a detector, one row per DOM.

    The row index is the DOM index used by every array in egenerator (``pulse_dom``,
    ``dom_charge[:, d]``...). Rows are ordered by (string, om).

    Attributes
    ----------
    string, om : np.ndarray of int32
        IceCube OMKey of each DOM (string 1..86, om 1..60 from top to bottom).
    x, y, z : np.ndarray of float64
        Position in the IceCube frame [m].
    efficiency : np.ndarray of float64
        Relative quantum efficiency (1.0 standard, 1.35 DeepCore high-QE).
    noise_rate_hz : np.ndarray of float64
        Dark noise rate [Hz].
    dead : np.ndarray of bool
        DOMs that record nothing ("bad DOMs").
    """

    string: np.ndarray
    om: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    efficiency: np.ndarray
    noise_rate_hz: np.ndarray
    dead: np.ndarray
    source: str = field(default="<arrays>", compare=False)

    def __post_init__(self) -> None:
        casts = {
            "string": np.int32,
            "om": np.int32,
            "x": np.float64,
            "y": np.float64,
            "z": np.float64,
            "efficiency": np.float64,
            "noise_rate_hz": np.float64,
            "dead": bool,
        }
        n = None
        for name, dtype in casts.items():
            values = np.asarray(getattr(self, name))
            if values.ndim != 1:
                raise DetectorTableError(f"{self.source}: column '{name}' must be 1-d")
            if n is None:
                n = len(values)
            elif len(values) != n:
                raise DetectorTableError(
                    f"{self.source}: column '{name}' has {len(values)} rows, expected {n}"
                )
            if dtype is not bool and not np.all(np.isfinite(values.astype(np.float64))):
                bad = int(np.flatnonzero(~np.isfinite(values.astype(np.float64)))[0])
                raise DetectorTableError(
                    f"{self.source}: column '{name}' row {bad} is not finite ({values[bad]})"
                )
            values = values.astype(dtype)
            values.setflags(write=False)
            object.__setattr__(self, name, values)
        if n == 0:
            raise DetectorTableError(f"{self.source}: the detector table has no DOMs")
        if np.any(self.efficiency < 0):
            bad = int(np.flatnonzero(self.efficiency < 0)[0])
            raise DetectorTableError(
                f"{self.source}: column 'efficiency' row {bad} is negative ({self.efficiency[bad]})"
            )
        if np.any(self.noise_rate_hz < 0):
            bad = int(np.flatnonzero(self.noise_rate_hz < 0)[0])
            raise DetectorTableError(
                f"{self.source}: column 'noise_rate_hz' row {bad} is negative "
                f"({self.noise_rate_hz[bad]})"
            )
        keys = self.string.astype(np.int64) * 1000 + self.om
        if np.any(np.diff(keys) <= 0):
            order_ok = np.all(np.diff(keys) != 0)
            what = "not sorted by (string, om)" if order_ok else "has duplicate (string, om) keys"
            raise DetectorTableError(f"{self.source}: the table {what}")

    # ------------------------------------------------------------------ properties
    @property
    def num_doms(self) -> int:
        """Number of DOMs (rows)."""
        return len(self.string)

    @property
    def positions(self) -> np.ndarray:
        """DOM positions [D, 3] in m."""
        return np.stack([self.x, self.y, self.z], axis=1)

    def index_of(self, string: np.ndarray, om: np.ndarray) -> np.ndarray:
        """DOM indices of (string, om) pairs, vectorised; -1 where the DOM is not in the table."""
        string = np.asarray(string, dtype=np.int64)
        om = np.asarray(om, dtype=np.int64)
        keys = self.string.astype(np.int64) * 1000 + self.om
        query = string * 1000 + om
        pos = np.searchsorted(keys, query)
        pos_clipped = np.minimum(pos, len(keys) - 1)
        found = keys[pos_clipped] == query
        return np.where(found, pos_clipped, -1).astype(np.int64)

    # ------------------------------------------------------------------ files
    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the table as CSV with the columns of :data:`CSV_COLUMNS`."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for row in zip(
                self.string,
                self.om,
                self.x,
                self.y,
                self.z,
                self.efficiency,
                self.noise_rate_hz,
                self.dead,
                strict=True,
            ):
                writer.writerow(
                    [int(row[0]), int(row[1])]
                    + [repr(float(v)) for v in row[2:7]]
                    + [int(bool(row[7]))]
                )

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> DetectorTable:
        """Read a table written by :meth:`to_csv` or supplied by a user.

        Required columns: string, om, x, y, z, efficiency, noise_rate_hz; optional: dead.
        Rows are sorted by (string, om).
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise DetectorTableError(f"{path}: geometry file does not exist")
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DetectorTableError(f"{path}: geometry file is empty") from None
            rows = [r for r in reader if r and any(c.strip() for c in r)]
        missing = [c for c in _REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DetectorTableError(
                f"{path}: missing column(s) {missing}; header is {header}, "
                f"required {list(_REQUIRED_COLUMNS)}"
            )
        columns: dict[str, np.ndarray] = {}
        for name in CSV_COLUMNS:
            if name not in header:
                continue
            k = header.index(name)
            values = []
            for line_no, row in enumerate(rows, start=2):
                try:
                    values.append(float(row[k]))
                except (IndexError, ValueError):
                    value = row[k] if k < len(row) else "<missing>"
                    raise DetectorTableError(
                        f"{path}: line {line_no} column '{name}' has value {value!r}, "
                        "expected a number"
                    ) from None
            columns[name] = np.asarray(values)
        if "dead" not in columns:
            columns["dead"] = np.zeros(len(rows), dtype=bool)
        order = np.lexsort((columns["om"], columns["string"]))
        return cls(**{k: v[order] for k, v in columns.items()}, source=path)
