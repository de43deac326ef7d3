"""Fast (string, om) -> DOM index lookup through a dense table."""

from __future__ import annotations

import numpy as np

from ..detector import DetectorTable

_MAX_TABLE_SIZE = 10_000_000


class DomLookup:
    """Vectorised ``DetectorTable.index_of`` through a dense [string, om] table (-1: unknown).

    Falls back to the table's searchsorted lookup when the key range is too large.
    """

    def __init__(self, detector: DetectorTable) -> None:
        self.detector = detector
        self.max_string = int(detector.string.max())
        self.max_om = int(detector.om.max())
        size = (self.max_string + 1) * (self.max_om + 1)
        self._table = None
        if detector.string.min() >= 0 and detector.om.min() >= 0 and size <= _MAX_TABLE_SIZE:
            table = np.full(size, -1, dtype=np.int64)
            keys = detector.string.astype(np.int64) * (self.max_om + 1) + detector.om
            table[keys] = np.arange(detector.num_doms)
            self._table = table

    def __call__(self, string: np.ndarray, om: np.ndarray) -> np.ndarray:
        """DOM index of every (string, om) pair, -1 where the DOM is not in the detector."""
        if self._table is None:
            return self.detector.index_of(string, om)
        string = np.asarray(string)
        om = np.asarray(om)
        ok = (string >= 0) & (string <= self.max_string) & (om >= 0) & (om <= self.max_om)
        key = string.astype(np.int64) * (self.max_om + 1) + om.astype(np.int64)
        if ok.all():
            return self._table[key]
        return np.where(ok, self._table[np.where(ok, key, 0)], -1)
