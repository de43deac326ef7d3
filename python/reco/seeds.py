"""Seeds: starting points of the fits.

- :func:`read_seed_table`: one seed per event from a table of the input file: an I3Particle
  table (``MCCascade``, ``MonopodFit4_PartialExclusion``, a previous egenerator fit: ``x, y, z,
  time, zenith, azimuth, energy``) or a label / I3MapStringDouble table (``cascade_x``, ...).
- :class:`FirstGuessSeeder`: seeds that need nothing but the pulses: a charge-weighted vertex,
  a time from the earliest light, an energy from the total charge (calibrated with the source's
  expected charge, or a likelihood scan), and a coarse scan over directions of which the best
  few become seeds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..data.batch import EventBatch
from ..data.event_matching import lookup
from ..detector import DetectorTable
from ..io.reader import HdfwriterFile
from .parameter_space import suffix_of

#: Group velocity of light in ice [m/ns] (PHYSICS.md: c / 1.35634).
C_ICE_M_PER_NS = 0.299792458 / 1.35634
_ID_COLUMNS = ("Run", "Event", "SubEvent", "SubEventStream")


class SeedError(ValueError):
    """A seed table is unusable (missing, lacks a column without a missing-value rule)."""


def _time_aliases(name: str) -> list[str]:
    if name == "time":
        return ["time", "t"]
    if name == "t":
        return ["t", "time"]
    if name.endswith("_time"):
        return [name, name[: -len("time")] + "t"]
    if name.endswith("_t"):
        return [name, name[: -len("t")] + "time"]
    return [name]


def seed_columns(
    parameter_names: Sequence[str],
    columns: Sequence[str],
    seed_parameter_names: Sequence[str] | None = None,
) -> list[str | None]:
    """Column of the seed table for every parameter (None where there is none).

    Rules, first match wins: ``seed_parameter_names[i]`` (given in the order of the model's
    parameters); the parameter's name (``time`` <-> ``t``); its kind without the source prefix
    (``cascade_x`` -> ``x``, as an I3Particle table has it); the unique column ending in
    ``_<kind>`` (``x`` -> ``cascade_x``).
    """
    available = list(columns)
    out: list[str | None] = []
    explicit = list(seed_parameter_names or [])
    for i, name in enumerate(parameter_names):
        if i < len(explicit) and explicit[i]:
            out.append(explicit[i] if explicit[i] in available else None)
            continue
        kind = suffix_of(name)
        candidates = _time_aliases(name) + _time_aliases(kind)
        found = next((c for c in candidates if c in available), None)
        if found is None:
            for candidate in _time_aliases(kind):
                matches = [c for c in available if c.endswith("_" + candidate)]
                if len(matches) == 1:
                    found = matches[0]
                    break
        out.append(found)
    return out


def read_seed_table(
    path: str | os.PathLike,
    key: str,
    parameter_names: Sequence[str],
    event_ids: np.ndarray,
    *,
    seed_parameter_names: Sequence[str] | None = None,
    missing_value: float | None = 1.0,
    missing_value_dict: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Seeds [B, P] from table ``key`` for the events ``event_ids`` [B, 4].

    Parameters the table lacks get ``missing_value_dict[name]`` or ``missing_value``; events the
    table lacks (or marks ``exists == 0``) get NaN rows (the fit flags them ``MISSING_SEED``
    unless another seed is given).

    Raises
    ------
    SeedError
        The table is missing from the file, or a parameter has no column and no missing value.
    """
    path = os.fspath(path)
    names = list(parameter_names)
    missing_value_dict = dict(missing_value_dict or {})
    with HdfwriterFile(path) as hfile:
        if not hfile.has_table(key):
            raise SeedError(f"{path}: seed table '{key}' not found; tables: {hfile.tables}")
        columns = hfile.columns(key)
        mapping = seed_columns(names, columns, seed_parameter_names)
        for name, column in zip(names, mapping, strict=True):
            if column is None and name not in missing_value_dict and missing_value is None:
                raise SeedError(
                    f"{path}: seed table '{key}' has no column for parameter '{name}' and no "
                    f"seed_missing_value is set; columns: {columns}"
                )
        index = hfile.event_index(key)
        wanted = [c for c in dict.fromkeys(m for m in mapping if m is not None)]
        table = hfile.read_table(key, wanted) if wanted else None
    ids = np.stack([index[c].astype(np.int64) for c in _ID_COLUMNS], axis=1)
    rows = lookup(ids, np.asarray(event_ids, dtype=np.int64).reshape(-1, 4))
    present = rows >= 0
    present[present] &= index["exists"][rows[present]].astype(bool)
    present[present] &= (index["stop"][rows[present]] - index["start"][rows[present]]) > 0
    first = np.where(present, index["start"][np.maximum(rows, 0)], 0).astype(np.int64)
    seeds = np.full((len(rows), len(names)), np.nan)
    for i, (name, column) in enumerate(zip(names, mapping, strict=True)):
        if column is None:
            value = missing_value_dict.get(name, missing_value)
            seeds[present, i] = float(value)
        else:
            seeds[present, i] = np.asarray(table[column], dtype=np.float64)[first[present]]
    return seeds


def fibonacci_directions(num: int) -> tuple[np.ndarray, np.ndarray]:
    """``num`` nearly uniform directions (zenith, azimuth) [rad] (Fibonacci sphere)."""
    i = np.arange(num, dtype=np.float64)
    cos_zen = 1.0 - (2.0 * i + 1.0) / num
    azimuth = np.mod(i * np.pi * (3.0 - np.sqrt(5.0)), 2.0 * np.pi)
    return np.arccos(cos_zen), azimuth


def _index_of(names: Sequence[str], kind: str) -> int | None:
    matches = [i for i, n in enumerate(names) if suffix_of(n) == kind or n == kind]
    if kind == "time" and not matches:
        matches = [i for i, n in enumerate(names) if suffix_of(n) == "t"]
    return matches[0] if matches else None


class FirstGuessSeeder:
    """Seeds from the pulses alone, refined by a batched scan over directions.

    Parameters
    ----------
    reconstructor : Reconstructor
        Its objective ranks the scanned hypotheses; its source (when it has one) calibrates
        the energy from the total charge.
    detector : DetectorTable
    num_directions : int
        Directions scanned per event (Fibonacci sphere).
    num_seeds : int
        Best directions kept as seeds.
    num_brightest : int
        DOMs used for the vertex and time.
    default_values : mapping name -> float, optional
        Values of parameters the first guess does not know (default 0, energy-like 1e3).
    """

    def __init__(
        self,
        reconstructor,
        detector: DetectorTable,
        num_directions: int = 16,
        num_seeds: int = 3,
        num_brightest: int = 8,
        default_values: Mapping[str, float] | None = None,
        energy_range_gev: tuple[float, float] = (1.0, 1e8),
    ) -> None:
        self.reco = reconstructor
        self.detector = detector
        self.num_directions = int(num_directions)
        self.num_seeds = int(min(num_seeds, num_directions))
        self.num_brightest = int(num_brightest)
        self.default_values = dict(default_values or {})
        self.energy_range_gev = energy_range_gev
        names = reconstructor.parameter_names
        self.index = {
            k: _index_of(names, k) for k in ("x", "y", "z", "zenith", "azimuth", "energy", "time")
        }
        if any(v is None for v in self.index.values()):
            raise SeedError(
                f"first-guess seeds need x, y, z, zenith, azimuth, energy and time parameters; "
                f"the model has {list(names)}"
            )

    # ------------------------------------------------------------------ pieces
    def vertex_and_time(self, batch: EventBatch) -> tuple[np.ndarray, np.ndarray]:
        """Charge-weighted vertex [B, 3] of the brightest valid DOMs and a time [B] from the
        earliest pulses there (first pulse minus the light travel time, median over DOMs)."""
        b = batch.num_events
        positions = self.detector.positions
        charge = np.where(batch.dom_valid, batch.dom_charge, 0.0)
        k = min(self.num_brightest, charge.shape[1])
        top = np.argsort(-charge, axis=1)[:, :k]  # [B, k]
        weights = np.take_along_axis(charge, top, axis=1)
        total = weights.sum(axis=1, keepdims=True)
        safe = np.where(total > 0, total, 1.0)
        vertex = np.einsum("bk,bkc->bc", weights, positions[top]) / safe
        # first pulse time per (event, DOM)
        first = np.full(charge.shape, np.inf)
        valid_pulse = batch.dom_valid[batch.pulse_event, batch.pulse_dom]
        np.minimum.at(
            first,
            (batch.pulse_event[valid_pulse], batch.pulse_dom[valid_pulse]),
            batch.pulse_time_ns[valid_pulse],
        )
        t_first = np.take_along_axis(first, top, axis=1)
        dist = np.linalg.norm(positions[top] - vertex[:, None, :], axis=2)
        t_vertex = np.where(weights > 0, t_first - dist / C_ICE_M_PER_NS, np.nan)
        with np.errstate(all="ignore"):
            time = np.nanmedian(np.where(np.isfinite(t_vertex), t_vertex, np.nan), axis=1)
        fallback = batch.time_window_ns.mean(axis=1)
        time = np.where(np.isfinite(time), time, fallback)
        vertex = np.where(total > 0, vertex, 0.0)
        return vertex, time.reshape(b)

    def _hypotheses(self, vertex, time, zenith, azimuth, energy) -> np.ndarray:
        """[B, K, P] from per-event vertex/time and per-(event, k) direction and energy."""
        b, k = zenith.shape
        p = len(self.reco.parameter_names)
        out = np.zeros((b, k, p))
        for name, value in self.default_values.items():
            out[:, :, self.reco.parameter_names.index(name)] = value
        ix = self.index
        for c, key in enumerate(("x", "y", "z")):
            out[:, :, ix[key]] = vertex[:, None, c]
        out[:, :, ix["time"]] = time[:, None]
        out[:, :, ix["zenith"]] = zenith
        out[:, :, ix["azimuth"]] = azimuth
        out[:, :, ix["energy"]] = energy
        return out

    def seeds(self, batch: EventBatch) -> np.ndarray:
        """Seeds [B, num_seeds, P] (rows of events without charge are NaN).

        With a source: for every scanned direction the expected charge per DOM is evaluated at
        two energies (it is linear in E plus noise: ``mu(E) = mu1 + (E - E1) (mu2 - mu1) /
        (E2 - E1)``), the energy is matched to the observed total charge, and the directions are
        ranked by the Poisson likelihood of the DOM charges. Without a source the full loss is
        scanned over energies (half decades) and directions.
        """
        self.reco._check_doms(batch)
        b = batch.num_events
        vertex, time = self.vertex_and_time(batch)
        zen, az = fibonacci_directions(self.num_directions)
        zenith = np.repeat(zen[None], b, axis=0)
        azimuth = np.repeat(az[None], b, axis=0)
        valid = np.asarray(batch.dom_valid, dtype=np.float64)
        charge = np.where(batch.dom_valid, batch.dom_charge, 0.0)
        observed = charge.sum(axis=1)
        e_low, e_high = self.energy_range_gev
        if self.reco.source is not None:
            e1, e2 = 1e3, 1e5
            mu1 = self.reco.expected_charges(
                batch, self._hypotheses(vertex, time, zenith, azimuth, np.full_like(zenith, e1))
            )
            mu2 = self.reco.expected_charges(
                batch, self._hypotheses(vertex, time, zenith, azimuth, np.full_like(zenith, e2))
            )
            slope = (mu2 - mu1) / (e2 - e1)  # [B, K, D]
            q1 = np.einsum("bkd,bd->bk", mu1, valid)
            q_slope = np.einsum("bkd,bd->bk", slope, valid)
            with np.errstate(all="ignore"):
                energy = e1 + (observed[:, None] - q1) / q_slope
            energy = np.clip(np.where(np.isfinite(energy), energy, e_low), e_low, e_high)
            mu = np.maximum(mu1 + (energy - e1)[:, :, None] * slope, 1e-300)
            losses = np.einsum("bkd,bd->bk", mu - charge[:, None, :] * np.log(mu), valid)
        else:
            grid = 10.0 ** np.arange(np.log10(e_low), np.log10(e_high) + 1e-9, 0.5)
            n_e = grid.size
            zen_e = np.repeat(zenith, n_e, axis=1)
            az_e = np.repeat(azimuth, n_e, axis=1)
            en = np.tile(grid, (b, self.num_directions))
            scan = self.reco.loss(batch, self._hypotheses(vertex, time, zen_e, az_e, en))
            scan = np.where(np.isfinite(scan), scan, np.inf).reshape(b, self.num_directions, n_e)
            best_e = np.argmin(scan, axis=2)
            energy = grid[best_e]
            losses = np.take_along_axis(scan, best_e[:, :, None], axis=2)[:, :, 0]
        hyp = self._hypotheses(vertex, time, zenith, azimuth, energy)
        losses = np.where(np.isfinite(losses), losses, np.inf)
        order = np.argsort(losses, axis=1, kind="stable")[:, : self.num_seeds]
        best = np.take_along_axis(hyp, order[:, :, None], axis=1)
        best[~(observed > 0)] = np.nan
        return best
