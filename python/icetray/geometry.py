"""I3Geometry (G frame) <-> DetectorTable.

``detector_from_geometry`` maps the geometry of a file onto the detector table a model was
trained on (or builds a new table); ``geometry_from_detector`` / ``calibration_from_detector``
write a DetectorTable as IceTray objects (used by ``resources/scripts/simulate_i3.py``).
In-ice DOMs are those with om <= 60 (as in :mod:`.exclusions`). IceTray is imported lazily.
"""

from __future__ import annotations

import numpy as np

from ..detector import DetectorTable
from .exclusions import MAX_INICE_OM

DEFAULT_TOLERANCE_M = 0.5
PMT_AREA_M2 = 0.0444  # effective photocathode area of a 10" PMT (I3OMGeo.area)


class GeometryMismatchError(ValueError):
    """The geometry of a frame does not match the model's detector table."""


def _format_keys(keys: list[tuple[int, int]], limit: int = 10) -> str:
    shown = ", ".join(f"OMKey({s}, {o})" for s, o in keys[:limit])
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return shown + more


def geometry_arrays(geometry) -> dict[str, np.ndarray]:
    """In-ice DOMs of an ``I3Geometry``: string, om, x, y, z arrays sorted by (string, om)."""
    rows = [
        (key.string, key.om, omgeo.position.x, omgeo.position.y, omgeo.position.z)
        for key, omgeo in geometry.omgeo.items()
        if key.om <= MAX_INICE_OM and key.pmt == 0
    ]
    if not rows:
        raise GeometryMismatchError("the I3Geometry has no in-ice DOMs (om <= 60)")
    string, om, x, y, z = (np.array(column) for column in zip(*rows, strict=True))
    order = np.lexsort((om, string))
    return {
        "string": string[order].astype(np.int64),
        "om": om[order].astype(np.int64),
        "x": x[order].astype(np.float64),
        "y": y[order].astype(np.float64),
        "z": z[order].astype(np.float64),
    }


def _calibration_arrays(
    calibration,
    string: np.ndarray,
    om: np.ndarray,
    default_efficiency: float,
    default_noise_rate_hz: float,
) -> tuple[np.ndarray, np.ndarray]:
    efficiency = np.full(len(string), default_efficiency, dtype=np.float64)
    noise = np.full(len(string), default_noise_rate_hz, dtype=np.float64)
    if calibration is None:
        return efficiency, noise
    from icecube import icetray
    from icecube.icetray import I3Units

    dom_cal = calibration.dom_cal
    for i, (s, o) in enumerate(zip(string, om, strict=True)):
        key = icetray.OMKey(int(s), int(o))
        if key in dom_cal:
            cal = dom_cal[key]
            if np.isfinite(cal.relative_dom_eff):
                efficiency[i] = cal.relative_dom_eff
            if np.isfinite(cal.dom_noise_rate):
                noise[i] = cal.dom_noise_rate / I3Units.hertz
    return efficiency, noise


def detector_from_geometry(
    geometry,
    reference: DetectorTable | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    calibration=None,
    default_efficiency: float = 1.0,
    default_noise_rate_hz: float = 500.0,
) -> DetectorTable:
    """The detector table of an ``I3Geometry``.

    Parameters
    ----------
    geometry : icecube.dataclasses.I3Geometry
        Geometry of the G frame.
    reference : DetectorTable, optional
        The model's table. When given, the geometry must hold exactly the reference's in-ice
        DOMs at positions within ``tolerance_m``; the reference is returned (its efficiencies,
        noise rates and dead flags are the model's). Otherwise a new table is built.
    tolerance_m : float
        Largest accepted distance between a geometry and a reference position [m].
    calibration : icecube.dataclasses.I3Calibration, optional
        Source of relative efficiencies and noise rates for a new table.
    default_efficiency, default_noise_rate_hz : float
        Used for DOMs without calibration.

    Raises
    ------
    GeometryMismatchError
        DOMs missing on either side or displaced by more than ``tolerance_m``; the message lists
        the first differing OMKeys.
    """
    arrays = geometry_arrays(geometry)
    if reference is None:
        efficiency, noise = _calibration_arrays(
            calibration,
            arrays["string"],
            arrays["om"],
            default_efficiency,
            default_noise_rate_hz,
        )
        return DetectorTable(
            **arrays,
            efficiency=efficiency,
            noise_rate_hz=noise,
            dead=np.zeros(len(arrays["string"]), dtype=bool),
            source="I3Geometry",
        )

    geo_keys = arrays["string"] * 1000 + arrays["om"]
    ref_keys = reference.string.astype(np.int64) * 1000 + reference.om
    missing = np.setdiff1d(ref_keys, geo_keys)
    extra = np.setdiff1d(geo_keys, ref_keys)
    problems = []
    if len(missing):
        keys = [(int(k // 1000), int(k % 1000)) for k in missing]
        problems.append(
            f"{len(keys)} DOM(s) of the model missing in the geometry: {_format_keys(keys)}"
        )
    if len(extra):
        keys = [(int(k // 1000), int(k % 1000)) for k in extra]
        problems.append(
            f"{len(keys)} in-ice DOM(s) of the geometry not in the model: {_format_keys(keys)}"
        )
    if not problems:
        # both sorted by (string, om) and holding the same keys: rows align
        distance = np.linalg.norm(
            np.stack([arrays["x"], arrays["y"], arrays["z"]], axis=1) - reference.positions,
            axis=1,
        )
        off = np.flatnonzero(~(distance <= tolerance_m))
        if len(off):
            order = off[np.argsort(-distance[off], kind="stable")]
            keys = [(int(reference.string[i]), int(reference.om[i])) for i in off]
            worst = order[0]
            problems.append(
                f"{len(off)} DOM(s) displaced by more than {tolerance_m} m: {_format_keys(keys)}"
                f" (largest {distance[worst]:.3f} m at OMKey({reference.string[worst]}, "
                f"{reference.om[worst]}))"
            )
    if problems:
        raise GeometryMismatchError(
            f"I3Geometry does not match the detector table '{reference.source}': "
            + "; ".join(problems)
        )
    return reference


def geometry_from_detector(detector: DetectorTable):
    """An ``I3Geometry`` with one I3OMGeo per DOM of the table (PMT facing down)."""
    from icecube import dataclasses, icetray

    geometry = dataclasses.I3Geometry()
    omgeo = dataclasses.I3OMGeoMap()
    orientation = dataclasses.I3Orientation(0.0, 0.0, -1.0, 1.0, 0.0, 0.0)
    for s, o, x, y, z in zip(
        detector.string, detector.om, detector.x, detector.y, detector.z, strict=True
    ):
        geo = dataclasses.I3OMGeo()
        geo.position = dataclasses.I3Position(float(x), float(y), float(z))
        geo.orientation = orientation
        geo.omtype = dataclasses.I3OMGeo.OMType.IceCube
        geo.area = PMT_AREA_M2 * icetray.I3Units.m2
        omgeo[icetray.OMKey(int(s), int(o))] = geo
    geometry.omgeo = omgeo
    return geometry


def calibration_from_detector(detector: DetectorTable):
    """An ``I3Calibration`` holding the relative efficiency and noise rate of every DOM."""
    from icecube import dataclasses, icetray
    from icecube.icetray import I3Units

    calibration = dataclasses.I3Calibration()
    dom_cal = dataclasses.Map_OMKey_I3DOMCalibration()
    for s, o, eff, noise in zip(
        detector.string, detector.om, detector.efficiency, detector.noise_rate_hz, strict=True
    ):
        cal = dataclasses.I3DOMCalibration()
        cal.relative_dom_eff = float(eff)
        cal.dom_noise_rate = float(noise) * I3Units.hertz
        dom_cal[icetray.OMKey(int(s), int(o))] = cal
    calibration.dom_cal = dom_cal
    return calibration
