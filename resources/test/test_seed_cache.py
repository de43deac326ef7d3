"""SeedCache: first-guess seeds made once per event, reused by a second run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from egenerator.reco.seeds import SeedCache, SeedError


class CountingSeeder:
    """Seeds [B, 2, 3] that encode the event number; counts the events it was asked for."""

    def __init__(self) -> None:
        self.events_seen = 0

    def seeds(self, batch) -> np.ndarray:
        self.events_seen += len(batch.event_id)
        event = np.asarray(batch.event_id)[:, 1].astype(float)
        return event[:, None, None] + np.arange(6, dtype=float).reshape(1, 2, 3)


def batch_of(events: list[int]):
    ids = np.array([[1, e, 0, 0] for e in events], dtype=np.int64)
    return SimpleNamespace(
        event_id=ids, select=lambda rows: batch_of([events[int(r)] for r in rows])
    )


def test_seeds_are_made_once_and_reused():
    cache = SeedCache()
    first = CountingSeeder()
    seeder = cache.wrap(first, ["x", "y", "z"])
    a = seeder.seeds(batch_of([3, 4]))
    assert first.events_seen == 2 and len(cache) == 2
    second = CountingSeeder()
    again = cache.wrap(second, ["x", "y", "z"]).seeds(batch_of([4, 3]))
    assert second.events_seen == 0  # everything came from the cache
    np.testing.assert_array_equal(again, a[::-1])
    # a batch with a new event asks the seeder for that event only; stored ones keep theirs
    mixed = cache.wrap(second, ["x", "y", "z"]).seeds(batch_of([3, 9]))
    assert second.events_seen == 1 and len(cache) == 3
    np.testing.assert_array_equal(mixed[0], a[0])
    np.testing.assert_array_equal(mixed[1], 9.0 + np.arange(6.0).reshape(2, 3))


def test_other_parameter_names_are_an_error():
    cache = SeedCache()
    cache.wrap(CountingSeeder(), ["x", "y", "z"])
    with pytest.raises(SeedError, match="seed cache holds seeds"):
        cache.wrap(CountingSeeder(), ["x", "y", "energy"])
