"""SimulatedEvents -> the columns of the hdfwriter tables the simulator writes (pure numpy).

Conventions of the simulated files:
- Event ids: Run = ``run_id``, Event = ``event_number``, SubEvent = 0, SubEventStream = 0 (in
  the tables and in ``__I3Index__`` alike).
- Pulses (``InIceDSTPulses``, ``MCPulsesWithoutNoise``): ``pmt`` 0, ``vector_index`` = index of
  the pulse within its DOM (time order), ``width`` = 0 ns: the simulator merges photoelectrons
  into pulses but does not model a pulse duration.
- ``MCCascade``: an electron (pdg 11) cascade at the true vertex, speed c, length 0, location
  InIce, fit_status NotSet.
- ``I3EventHeader``: a fictitious, deterministic clock: event ``n`` starts ``n`` seconds after
  2020-01-01 00:00 UTC (MJD 58849); it ends after the readout window's length.
"""

from __future__ import annotations

import numpy as np

from ..detector import DetectorTable
from ..sim.events import SimulatedEvents
from .schema import (
    CASCADE_LABEL_NAMES,
    FIT_STATUS_NOT_SET,
    LOCATION_INICE,
    PDG_EMINUS,
    SHAPE_CASCADE,
    SPEED_OF_LIGHT_M_PER_NS,
    TYPE_EMINUS,
    i3particle_columns,
)

# Label name -> column of SimulatedEvents.parameters (x, y, z, zenith, azimuth, energy, time).
_LABEL_PARAMETER = {
    "cascade_x": 0,
    "cascade_y": 1,
    "cascade_z": 2,
    "cascade_zenith": 3,
    "cascade_azimuth": 4,
    "cascade_energy": 5,
    "cascade_t": 6,
}
CLOCK_START_MJD_DAY = 58849  # 2020-01-01
SECONDS_PER_DAY = 86400


class SimulatedEventsError(ValueError):
    """A SimulatedEvents chunk is inconsistent with itself or with the detector."""


def event_ids(sim: SimulatedEvents) -> np.ndarray:
    """[B, 4] int64 (Run, Event, SubEvent, SubEventStream) of the chunk's events."""
    ids = np.zeros((sim.num_events, 4), dtype=np.int64)
    ids[:, 0] = int(sim.run_id)
    ids[:, 1] = np.asarray(sim.event_number, dtype=np.int64)
    return ids


def pulse_columns(
    num_events: int,
    event: np.ndarray,
    dom: np.ndarray,
    time_ns: np.ndarray,
    charge_pe: np.ndarray,
    detector: DetectorTable,
    what: str = "pulses",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows per event and the I3RecoPulseSeriesMap columns of flat pulses.

    Pulses are put in (event, DOM, time) order if they are not already.

    Returns
    -------
    rows_per_event : [B] int64
    columns : dict with string, om, pmt, vector_index, time, width, charge
    """
    event = np.asarray(event, dtype=np.int64)
    dom = np.asarray(dom, dtype=np.int64)
    time_ns = np.asarray(time_ns, dtype=np.float64)
    charge_pe = np.asarray(charge_pe, dtype=np.float64)
    n = event.shape[0]
    for name, values in (("dom", dom), ("time_ns", time_ns), ("charge_pe", charge_pe)):
        if values.shape != (n,):
            raise SimulatedEventsError(
                f"{what}: {name} has shape {values.shape}, expected ({n},) like the event index"
            )
    if n and (event.min() < 0 or event.max() >= num_events):
        raise SimulatedEventsError(
            f"{what}: event index out of range [0, {num_events}): {event.min()}..{event.max()}"
        )
    if n and (dom.min() < 0 or dom.max() >= detector.num_doms):
        raise SimulatedEventsError(
            f"{what}: DOM index out of range [0, {detector.num_doms}) of detector "
            f"'{detector.source}': {dom.min()}..{dom.max()}"
        )
    key = event * detector.num_doms + dom
    in_order = np.all(np.diff(key) >= 0) and np.all((np.diff(key) > 0) | (np.diff(time_ns) >= 0))
    if not in_order:
        order = np.lexsort((time_ns, dom, event))
        event, dom, time_ns, charge_pe, key = (
            event[order],
            dom[order],
            time_ns[order],
            charge_pe[order],
            key[order],
        )
    first = np.concatenate([[True], key[1:] != key[:-1]]) if n else np.zeros(0, bool)
    group_start = np.flatnonzero(first)
    group_size = np.diff(np.concatenate([group_start, [n]]))
    vector_index = np.arange(n, dtype=np.int64) - np.repeat(group_start, group_size)
    rows_per_event = np.bincount(event, minlength=num_events).astype(np.int64)
    columns = {
        "string": detector.string[dom].astype(np.int32),
        "om": detector.om[dom].astype(np.uint32),
        "pmt": np.zeros(n, dtype=np.uint32),
        "vector_index": vector_index.astype(np.uint64),
        "time": time_ns,
        "width": np.zeros(n, dtype=np.float64),
        "charge": charge_pe,
    }
    return rows_per_event, columns


def bad_dom_columns(
    sim: SimulatedEvents, detector: DetectorTable
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows per event and the I3VectorOMKey columns of ``BadDomsList`` (same DOMs each event)."""
    bad = np.unique(np.asarray(sim.bad_doms, dtype=np.int64))
    if bad.size and (bad[0] < 0 or bad[-1] >= detector.num_doms):
        raise SimulatedEventsError(
            f"bad_doms: DOM index out of range [0, {detector.num_doms}): {bad[0]}..{bad[-1]}"
        )
    b = sim.num_events
    columns = {
        "vector_index": np.tile(np.arange(bad.size, dtype=np.uint64), b),
        "string": np.tile(detector.string[bad].astype(np.int32), b),
        "om": np.tile(detector.om[bad].astype(np.uint32), b),
    }
    return np.full(b, bad.size, dtype=np.int64), columns


def label_columns(parameters: np.ndarray) -> dict[str, np.ndarray]:
    """``LabelsDeepLearning`` columns (I3MapStringDouble keys, sorted) from true parameters."""
    parameters = np.asarray(parameters, dtype=np.float64)
    return {name: parameters[:, _LABEL_PARAMETER[name]].copy() for name in CASCADE_LABEL_NAMES}


def mc_cascade_columns(parameters: np.ndarray) -> dict[str, np.ndarray]:
    """``MCCascade`` I3Particle columns from true parameters."""
    p = np.asarray(parameters, dtype=np.float64)
    return i3particle_columns(
        p[:, 0],
        p[:, 1],
        p[:, 2],
        p[:, 6],
        p[:, 3],
        p[:, 4],
        p[:, 5],
        speed_m_per_ns=SPEED_OF_LIGHT_M_PER_NS,
        length_m=0.0,
        pdg_encoding=PDG_EMINUS,
        particle_type=TYPE_EMINUS,
        shape=SHAPE_CASCADE,
        location=LOCATION_INICE,
        fit_status=FIT_STATUS_NOT_SET,
    )


def readout_window_columns(readout_window_ns: np.ndarray) -> dict[str, np.ndarray]:
    """``ReadoutWindow`` (I3TimeWindow) columns."""
    window = np.asarray(readout_window_ns, dtype=np.float64).reshape(-1, 2)
    return {"start": window[:, 0].copy(), "stop": window[:, 1].copy()}


def event_header_columns(
    event_number: np.ndarray, readout_window_ns: np.ndarray
) -> dict[str, np.ndarray]:
    """``I3EventHeader`` time columns of the fictitious clock (see the module docstring)."""
    number = np.asarray(event_number, dtype=np.int64)
    window = np.asarray(readout_window_ns, dtype=np.float64).reshape(-1, 2)
    length_ns = window[:, 1] - window[:, 0]
    start_ns = number.astype(np.float64) * 1e9
    end_ns = start_ns + length_ns
    columns: dict[str, np.ndarray] = {}
    for tag, total_ns in (("start", start_ns), ("end", end_ns)):
        seconds = np.floor(total_ns / 1e9)
        columns[f"time_{tag}_utc_daq"] = np.round(total_ns * 10.0).astype(np.uint64)
        columns[f"time_{tag}_mjd_day"] = (CLOCK_START_MJD_DAY + seconds // SECONDS_PER_DAY).astype(
            np.int32
        )
        columns[f"time_{tag}_mjd_sec"] = (seconds % SECONDS_PER_DAY).astype(np.int32)
        columns[f"time_{tag}_mjd_ns"] = total_ns - seconds * 1e9
    order = ("utc_daq", "mjd_day", "mjd_sec", "mjd_ns")
    return {f"time_{t}_{k}": columns[f"time_{t}_{k}"] for t in ("start", "end") for k in order}
