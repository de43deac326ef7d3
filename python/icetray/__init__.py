"""egenerator.icetray: the IceTray layer (frames <-> arrays, I3Modules, tray segments).

This is the only part of egenerator that imports ``icecube``, and only lazily: importing
``egenerator.icetray`` works without IceTray. Names are resolved on first access
(``egenerator.icetray.FrameConverter`` imports :mod:`.frame_conversion`).

Without IceTray: :mod:`.exclusions` and :mod:`.bright_doms` (the numpy reference) are usable.
With IceTray: :class:`FrameConverter` (C++ ``icecube._egenerator`` when built, else numpy),
:func:`detector_from_geometry`, :func:`geometry_from_detector`, the I3Module
``EventGeneratorSimulation``; the reconstruction module and segment follow.
"""

from __future__ import annotations

import importlib

# public name -> submodule defining it
_EXPORTS = {
    "apply_exclusions": "exclusions",
    "EventArrays": "exclusions",
    "ExclusionSettings": "exclusions",
    "FrameConversionError": "exclusions",
    "TimeWindowMap": "exclusions",
    "bright_dom_mask": "bright_doms",
    "bright_doms_from_pulses": "bright_doms",
    "FrameConverter": "frame_conversion",
    "cpp_converter_available": "frame_conversion",
    "detector_from_geometry": "geometry",
    "geometry_from_detector": "geometry",
    "calibration_from_detector": "geometry",
    "GeometryMismatchError": "geometry",
    "EventGeneratorSimulation": "simulation_module",
    # written once reconstruction exists:
    "EventGeneratorReconstruction": "reconstruction_module",
    "ApplyEventGeneratorReconstruction": "segments",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    submodule = _EXPORTS.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{submodule}", __name__)
    except ModuleNotFoundError as error:
        if error.name == f"{__name__}.{submodule}":
            raise AttributeError(
                f"{__name__}.{name} is not available: module {submodule}.py does not exist yet"
            ) from None
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
