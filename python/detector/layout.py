"""The generated "ic86-like" detector of PHYSICS.md: 78 standard + 8 DeepCore strings."""

from __future__ import annotations

import numpy as np

from .table import DetectorTable

STANDARD_SPACING_M = 125.0
DEEPCORE_SPACING_M = 72.0
DEEPCORE_CENTRE_M = (46.0, -35.0)
DEEPCORE_MIN_DISTANCE_M = 30.0
NUM_STANDARD_STRINGS = 78
NUM_DEEPCORE_STRINGS = 8
STANDARD_EFFICIENCY = 1.0
DEEPCORE_EFFICIENCY = 1.35
STANDARD_NOISE_HZ = 560.0
DEEPCORE_NOISE_HZ = 760.0
DEAD_FRACTION = 0.015
DETECTOR_SEED = 86


def _triangular_lattice(spacing_m: float, half_width: int) -> np.ndarray:
    """Points a*(1, 0) + b*(1/2, sqrt(3)/2), |a|, |b| <= half_width, scaled by spacing [m]."""
    a, b = np.meshgrid(
        np.arange(-half_width, half_width + 1), np.arange(-half_width, half_width + 1)
    )
    a = a.ravel().astype(np.float64)
    b = b.ravel().astype(np.float64)
    return np.stack([(a + 0.5 * b) * spacing_m, b * np.sqrt(3.0) / 2.0 * spacing_m], axis=1)


def _closest(points: np.ndarray, centre: np.ndarray, count: int) -> np.ndarray:
    """The `count` points closest to `centre`: radius rounded to 1 mm, ties by polar angle."""
    rel = points - centre
    radius_mm = np.round(np.hypot(rel[:, 0], rel[:, 1]) * 1000.0)
    angle = np.mod(np.arctan2(rel[:, 1], rel[:, 0]), 2.0 * np.pi)
    order = np.lexsort((angle, radius_mm))
    return points[order[:count]]


def string_positions() -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the 78 standard and of the 8 DeepCore strings [m], in string-number order."""
    standard = _closest(
        _triangular_lattice(STANDARD_SPACING_M, 12), np.zeros(2), NUM_STANDARD_STRINGS
    )
    candidates = _triangular_lattice(DEEPCORE_SPACING_M, 20)
    distance_to_standard = np.min(
        np.linalg.norm(candidates[:, None, :] - standard[None, :, :], axis=2), axis=1
    )
    candidates = candidates[distance_to_standard >= DEEPCORE_MIN_DISTANCE_M]
    deepcore = _closest(candidates, np.asarray(DEEPCORE_CENTRE_M), NUM_DEEPCORE_STRINGS)
    return standard, deepcore


def standard_dom_depths() -> np.ndarray:
    """z of the 60 DOMs on a standard string, top to bottom [m]."""
    return 501.5 - 17.0 * np.arange(60)


def deepcore_dom_depths() -> np.ndarray:
    """z of the 60 DOMs on a DeepCore string: 10 above the dust layer, 50 below [m]."""
    return np.concatenate([190.0 - 10.0 * np.arange(10), -157.0 - 7.0 * np.arange(50)])


def ic86_like(seed: int = DETECTOR_SEED) -> DetectorTable:
    """The deterministic ic86-like detector (5160 DOMs) of PHYSICS.md.

    Parameters
    ----------
    seed : int
        Seed of the per-DOM noise factors U(0.8, 1.2) and of the 1.5 % dead DOMs.
    """
    standard, deepcore = string_positions()
    xs, ys, zs, strings, oms, eff, noise = [], [], [], [], [], [], []
    for number, (x, y) in enumerate(np.concatenate([standard, deepcore]), start=1):
        is_deepcore = number > NUM_STANDARD_STRINGS
        depths = deepcore_dom_depths() if is_deepcore else standard_dom_depths()
        n = len(depths)
        xs.append(np.full(n, x))
        ys.append(np.full(n, y))
        zs.append(depths)
        strings.append(np.full(n, number))
        oms.append(np.arange(1, n + 1))
        eff.append(np.full(n, DEEPCORE_EFFICIENCY if is_deepcore else STANDARD_EFFICIENCY))
        noise.append(np.full(n, DEEPCORE_NOISE_HZ if is_deepcore else STANDARD_NOISE_HZ))
    num_doms = sum(len(s) for s in strings)
    rng = np.random.default_rng(seed)
    noise_factor = rng.uniform(0.8, 1.2, size=num_doms)
    dead = np.zeros(num_doms, dtype=bool)
    dead[rng.choice(num_doms, size=int(round(DEAD_FRACTION * num_doms)), replace=False)] = True
    return DetectorTable(
        string=np.concatenate(strings),
        om=np.concatenate(oms),
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        z=np.concatenate(zs),
        efficiency=np.concatenate(eff),
        noise_rate_hz=np.concatenate(noise) * noise_factor,
        dead=dead,
        source="ic86-like",
    )
