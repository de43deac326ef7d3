"""Shared pytest fixtures: small detectors, the real IceCube file, TensorFlow quietness."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_HDF5 = SHARED_DATA / "cascade_mesc_l5_nue_low.hdf5"


@pytest.fixture(scope="session")
def real_hdf5_path() -> Path:
    """The real IceCube hdfwriter file of shared/data (skips where it is absent)."""
    if not REAL_HDF5.exists():
        pytest.skip(f"{REAL_HDF5} not present")
    return REAL_HDF5


@pytest.fixture(scope="session")
def ic86_detector():
    """The full generated ic86-like detector (5160 DOMs)."""
    from egenerator.detector import ic86_like

    return ic86_like()


@pytest.fixture(scope="session")
def small_detector():
    """Seven strings of the ic86-like detector (the centre string and its neighbours): 420 DOMs.

    Small enough for fast tests, dense enough that a central cascade lights many DOMs.
    """
    from egenerator.detector import DetectorTable, ic86_like

    full = ic86_like()
    radius = np.hypot(full.x, full.y)
    keep = (radius < 130.0) & (full.string <= 78)
    return DetectorTable(
        string=full.string[keep],
        om=full.om[keep],
        x=full.x[keep],
        y=full.y[keep],
        z=full.z[keep],
        efficiency=full.efficiency[keep],
        noise_rate_hz=full.noise_rate_hz[keep],
        dead=np.zeros(int(keep.sum()), dtype=bool),
        source="ic86-like, 7 central strings",
    )
