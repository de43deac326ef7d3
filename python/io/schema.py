"""Column layouts of IceTray hdfwriter tables: dtypes, units and docs per frame-object type.

The dtypes, units and doc strings follow a real hdfwriter file
(shared/data/cascade_mesc_l5_nue_low.hdf5). Rows are C-aligned structs like hdfwriter's
(``np.dtype(..., align=True)``); hdfwriter additionally rounds the row size up to 16 bytes,
PyTables drops that trailing padding, which no reader can notice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Field(NamedTuple):
    """One column of an hdfwriter table."""

    name: str
    dtype: str
    unit: str
    doc: str


# Every table (and every index table) starts with these five columns.
HEADER_FIELDS: tuple[Field, ...] = (
    Field("Run", "<u4", "", "run number"),
    Field("Event", "<u4", "", "event number"),
    Field("SubEvent", "<u4", "", "sub-event number"),
    Field("SubEventStream", "<i4", "", "ID of the splitter module that made this stream"),
    Field("exists", "u1", "bool", "object was found in the frame"),
)
HEADER_NAMES: tuple[str, ...] = tuple(f.name for f in HEADER_FIELDS)
EVENT_ID_NAMES: tuple[str, ...] = HEADER_NAMES[:4]

# Rows of __I3Index__/<table>: the row range [start, stop) of each event in <table>.
INDEX_FIELDS: tuple[Field, ...] = HEADER_FIELDS + (
    Field("start", "<u8", "", "Offset at which the rows for this event start"),
    Field("stop", "<u8", "", "Offset at which the rows for the next event start"),
)

# I3RecoPulseSeriesMap: one row per pulse.
PULSE_FIELDS: tuple[Field, ...] = (
    Field("string", "<i4", "", "String number"),
    Field("om", "<u4", "", "OM number"),
    Field("pmt", "<u4", "", "PMT number"),
    Field("vector_index", "<u8", "", "index in vector"),
    Field("time", "<f8", "ns", "Leading-edge time of the pulse"),
    Field("width", "<f8", "ns", "Duration of the pulse"),
    Field("charge", "<f8", "PE", "Integrated pulse charge"),
)

# I3VectorOMKey (BadDomsList, BrightDOMs): one row per DOM.
DOM_LIST_FIELDS: tuple[Field, ...] = (
    Field("vector_index", "<u8", "", "index in vector"),
    Field("string", "<i4", "", "String number"),
    Field("om", "<u4", "", "OM number"),
)

# I3TimeWindowSeriesMap (SaturationWindows, CalibrationErrata): one row per window.
TIME_WINDOW_SERIES_FIELDS: tuple[Field, ...] = (
    Field("string", "<i4", "", "String number"),
    Field("om", "<u4", "", "OM number"),
    Field("vector_index", "<u8", "", "index in vector"),
    Field("start", "<f8", "ns", "start of the time window"),
    Field("stop", "<f8", "ns", "end of the time window"),
)

# I3TimeWindow (ReadoutWindow): one row per event.
TIME_WINDOW_FIELDS: tuple[Field, ...] = (
    Field("start", "<f8", "ns", "start of the time window"),
    Field("stop", "<f8", "ns", "end of the time window"),
)

# I3Particle: one row per event, in hdfwriter's column order.
PARTICLE_FIELDS: tuple[Field, ...] = (
    Field("x", "<f8", "m", "x-position of particle"),
    Field("y", "<f8", "m", "y-position of particle"),
    Field("z", "<f8", "m", "z-position of particle"),
    Field("time", "<f8", "ns", "origin time of particle"),
    Field("zenith", "<f8", "radian", "zenith angle of particle origin"),
    Field("azimuth", "<f8", "radian", "azimuthal angle of particle origin"),
    Field("energy", "<f8", "GeV", "energy of particle"),
    Field("speed", "<f8", "Gm/s", "particle speed"),
    Field("length", "<f8", "m", "length of track"),
    Field("pdg_encoding", "<i4", "", "PDG encoding of particle type"),
    Field("type", "<i4", "", ""),
    Field("shape", "<i4", "", ""),
    Field("location", "<i4", "", ""),
    Field("fit_status", "<i4", "", ""),
)

# I3EventHeader: one row per event. Times as hdfwriter spells them: DAQ time in 0.1 ns since
# the start of the UTC year, and modified Julian date split into day, second and nanosecond.
EVENT_HEADER_FIELDS: tuple[Field, ...] = (
    Field("time_start_utc_daq", "<u8", "0.1 ns", "start of event in DAQ time"),
    Field("time_start_mjd_day", "<i4", "days", "start of event, MJD day"),
    Field("time_start_mjd_sec", "<i4", "s", "start of event, seconds of the MJD day"),
    Field("time_start_mjd_ns", "<f8", "ns", "start of event, nanoseconds of the second"),
    Field("time_end_utc_daq", "<u8", "0.1 ns", "end of event in DAQ time"),
    Field("time_end_mjd_day", "<i4", "days", "end of event, MJD day"),
    Field("time_end_mjd_sec", "<i4", "s", "end of event, seconds of the MJD day"),
    Field("time_end_mjd_ns", "<f8", "ns", "end of event, nanoseconds of the second"),
)

# I3MapStringDouble label keys of the cascade labels (hdfwriter writes map keys sorted).
CASCADE_LABEL_NAMES: tuple[str, ...] = (
    "cascade_azimuth",
    "cascade_energy",
    "cascade_t",
    "cascade_x",
    "cascade_y",
    "cascade_z",
    "cascade_zenith",
)

# I3Particle enumerations used here (dataclasses/I3Particle.h).
PDG_EMINUS = 11
TYPE_EMINUS = 11
SHAPE_CASCADE = 30
LOCATION_ANYWHERE = 0
LOCATION_INICE = 20
FIT_STATUS_NOT_SET = -1
FIT_STATUS_OK = 0
SPEED_OF_LIGHT_M_PER_NS = 0.299792458


def table_dtype(fields: tuple[Field, ...] | list[Field]) -> np.dtype:
    """C-aligned structured dtype of header + ``fields`` (hdfwriter's row layout)."""
    all_fields = list(HEADER_FIELDS) + [f for f in fields if f.name not in HEADER_NAMES]
    return np.dtype([(f.name, f.dtype) for f in all_fields], align=True)


def index_dtype() -> np.dtype:
    """Structured dtype of the rows of ``__I3Index__/<table>`` as hdfwriter writes them."""
    return np.dtype([(f.name, f.dtype) for f in INDEX_FIELDS], align=True)


def i3particle_columns(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    time_ns: np.ndarray,
    zenith: np.ndarray,
    azimuth: np.ndarray,
    energy_gev: np.ndarray,
    *,
    speed_m_per_ns: float = 0.0,
    length_m: float = np.nan,
    pdg_encoding: int = PDG_EMINUS,
    particle_type: int = TYPE_EMINUS,
    shape: int = SHAPE_CASCADE,
    location: int = LOCATION_ANYWHERE,
    fit_status: int | np.ndarray = FIT_STATUS_OK,
) -> dict[str, np.ndarray]:
    """Columns of an I3Particle table (cascade defaults as a Monopod fit writes them).

    Returns a dict in :data:`PARTICLE_FIELDS` order with the file's dtypes, ready for
    :meth:`HdfwriterWriter.append_event_table`.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    values = {
        "x": x,
        "y": y,
        "z": z,
        "time": time_ns,
        "zenith": zenith,
        "azimuth": azimuth,
        "energy": energy_gev,
        "speed": speed_m_per_ns,
        "length": length_m,
        "pdg_encoding": pdg_encoding,
        "type": particle_type,
        "shape": shape,
        "location": location,
        "fit_status": fit_status,
    }
    return {
        f.name: np.broadcast_to(np.asarray(values[f.name], dtype=f.dtype), (n,)).copy()
        for f in PARTICLE_FIELDS
    }


def units_and_docs(fields: tuple[Field, ...] | list[Field]) -> tuple[dict, dict]:
    """``({name: unit}, {name: doc})`` of ``fields`` for the writer's attribute arguments."""
    return {f.name: f.unit for f in fields}, {f.name: f.doc for f in fields}


# Default units/docs the writer uses for columns it is given without explicit ones (only names
# whose meaning is the same in every frame-object type).
_UNAMBIGUOUS = ("string", "om", "pmt", "vector_index", "width", "charge")
DEFAULT_UNITS: dict[str, str] = {
    f.name: f.unit for f in HEADER_FIELDS + PULSE_FIELDS if f.name in _UNAMBIGUOUS + HEADER_NAMES
}
DEFAULT_DOCS: dict[str, str] = {
    f.name: f.doc for f in HEADER_FIELDS + PULSE_FIELDS if f.name in _UNAMBIGUOUS + HEADER_NAMES
}
