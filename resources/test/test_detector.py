"""The generated ic86-like detector (PHYSICS.md, "Detector") and the DOM table's CSV I/O."""

from __future__ import annotations

import numpy as np
import pytest
from egenerator.detector import DetectorTable, DetectorTableError, ic86_like


def _string_xy(det: DetectorTable) -> tuple[np.ndarray, np.ndarray]:
    numbers = np.unique(det.string)
    first = np.searchsorted(det.string, numbers)
    return numbers, np.stack([det.x[first], det.y[first]], axis=1)


def test_counts(ic86_detector):
    det = ic86_detector
    assert det.num_doms == 5160
    numbers, _ = _string_xy(det)
    np.testing.assert_array_equal(numbers, np.arange(1, 87))
    for s in numbers:
        oms = det.om[det.string == s]
        np.testing.assert_array_equal(oms, np.arange(1, 61))
    # one (x, y) per string
    for s in numbers:
        sel = det.string == s
        assert np.ptp(det.x[sel]) == 0 and np.ptp(det.y[sel]) == 0


def test_standard_lattice(ic86_detector):
    _, xy = _string_xy(ic86_detector)
    standard = xy[:78]
    distance = np.linalg.norm(standard[:, None] - standard[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    np.testing.assert_allclose(distance.min(axis=1), 125.0, atol=1e-9)
    # the 78 lattice points closest to the origin: every point of the lattice within the
    # largest chosen radius (minus a tolerance) is chosen
    a, b = np.meshgrid(np.arange(-12, 13), np.arange(-12, 13))
    lattice = np.stack([(a + 0.5 * b).ravel() * 125.0, (b * np.sqrt(3) / 2).ravel() * 125.0], 1)
    radius = np.hypot(*standard.T).max()
    inner = lattice[np.hypot(*lattice.T) < radius - 1e-3]
    for point in inner:
        assert np.min(np.linalg.norm(standard - point, axis=1)) < 1e-6
    # z from +501.5 to -501.5, 17 m apart, om 1 at the top
    z = ic86_detector.z[ic86_detector.string == 1]
    np.testing.assert_allclose(z, 501.5 - 17.0 * np.arange(60))


def test_deepcore(ic86_detector):
    det = ic86_detector
    _, xy = _string_xy(det)
    standard, deepcore = xy[:78], xy[78:]
    assert len(deepcore) == 8
    to_standard = np.linalg.norm(deepcore[:, None] - standard[None], axis=2).min(axis=1)
    assert np.all(to_standard >= 30.0)
    # they lie on a 72 m triangular lattice: pairwise distances are multiples of lattice norms
    pair = np.linalg.norm(deepcore[:, None] - deepcore[None], axis=2)
    np.fill_diagonal(pair, np.inf)
    assert np.all(pair.min(axis=1) >= 72.0 - 1e-9)
    z = det.z[det.string == 79]
    np.testing.assert_allclose(z[:10], 190.0 - 10.0 * np.arange(10))
    np.testing.assert_allclose(z[10:], -157.0 - 7.0 * np.arange(50))
    assert z[-1] == pytest.approx(-500.0)


def test_efficiency_noise_dead(ic86_detector):
    det = ic86_detector
    deepcore = det.string > 78
    np.testing.assert_array_equal(det.efficiency[~deepcore], 1.0)
    np.testing.assert_array_equal(det.efficiency[deepcore], 1.35)
    factor_standard = det.noise_rate_hz[~deepcore] / 560.0
    factor_deepcore = det.noise_rate_hz[deepcore] / 760.0
    factors = np.concatenate([factor_standard, factor_deepcore])
    assert factors.min() >= 0.8 and factors.max() <= 1.2
    assert factors.min() < 0.81 and factors.max() > 1.19  # the full range is used
    assert int(det.dead.sum()) == 77  # round(1.5 % of 5160)


def test_deterministic():
    a, b = ic86_like(), ic86_like()
    for name in ("x", "y", "z", "efficiency", "noise_rate_hz", "dead"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = ic86_like(seed=1)
    assert not np.array_equal(a.noise_rate_hz, c.noise_rate_hz)


def test_csv_round_trip(ic86_detector, tmp_path):
    path = tmp_path / "geometry.csv"
    ic86_detector.to_csv(path)
    back = DetectorTable.from_csv(path)
    for name in ("string", "om", "x", "y", "z", "efficiency", "noise_rate_hz", "dead"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ic86_detector, name))
    idx = back.index_of(np.array([1, 86, 87]), np.array([1, 60, 1]))
    np.testing.assert_array_equal(idx, [0, 5159, -1])


def test_csv_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("string,om,x,y,z,efficiency\n1,1,0,0,0,1\n")
    with pytest.raises(DetectorTableError, match="noise_rate_hz") as info:
        DetectorTable.from_csv(path)
    assert str(path) in str(info.value)


def test_csv_not_a_number(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("string,om,x,y,z,efficiency,noise_rate_hz\n1,1,0,zero,0,1,500\n")
    with pytest.raises(DetectorTableError, match="'y'") as info:
        DetectorTable.from_csv(path)
    message = str(info.value)
    assert str(path) in message and "zero" in message and "line 2" in message
