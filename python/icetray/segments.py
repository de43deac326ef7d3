"""Tray segment ``ApplyEventGenerator`` (alias ``ApplyEventGeneratorReconstruction``).

The segment of processing chains (COMPAT.md section 5)::

    tray.AddSegment(
        ApplyEventGeneratorReconstruction,
        "EventGenerator",
        pulse_key="SplitInIceDSTPulses",
        dom_and_tw_exclusions=["BadDomsList", "CalibrationErrata", "SaturationWindows"],
        partial_exclusion=True,
        exclude_bright_doms=True,
        bright_doms_threshold_fraction=0.4,
        bright_doms_threshold_charge=100.0,
        merge_pulses_time_threshold=None,
        clean_up=True,
        model_names="/path/to/exported_model",
        seed_keys=["MonopodFit4_PartialExclusion"],
        output_key="EventGenerator",
    )

Exclusions, bright DOMs and pulse merging are applied per frame inside the module, on arrays
(C++ when built), so no intermediate frame objects are needed. ``clean_up=False`` keeps what the
likelihood saw for inspection: ``<name>_Pulses``, ``<name>_ExcludedDOMs``,
``<name>_BrightDOMs`` and ``<name>_TimeWindows``. Every other keyword goes to
:class:`~egenerator.icetray.reconstruction_module.EventGeneratorReconstruction` (``model_names``,
``model_base_dir``, ``seed_keys``, ``output_key``, ``add_covariances``, ``batch_size``, ...).
The exclusion list passed in is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

from icecube import icetray

from .reconstruction_module import PARAMETERS, EventGeneratorReconstruction

DEFAULT_EXCLUSIONS = ["BadDomsList", "CalibrationErrata", "SaturationWindows"]
# Module parameters the segment sets itself (from its own arguments).
_SEGMENT_OWNED = (
    "pulse_key",
    "exclusion_keys",
    "partial_exclusion",
    "exclude_bright_doms",
    "bright_doms_threshold_fraction",
    "bright_doms_threshold_charge",
    "merge_pulses_time_threshold",
    "exclusions_output_key",
)


class SegmentConfigError(ValueError):
    """A keyword of ApplyEventGenerator is unusable (the message names it)."""


@icetray.traysegment
def ApplyEventGenerator(
    tray,
    name,
    pulse_key: str = "SplitInIceDSTPulses",
    dom_and_tw_exclusions: Sequence[str] | str | None = DEFAULT_EXCLUSIONS,
    partial_exclusion: bool = True,
    exclude_bright_doms: bool = True,
    bright_doms_threshold_fraction: float = 0.4,
    bright_doms_threshold_charge: float = 100.0,
    merge_pulses_time_threshold: float | None = None,
    clean_up: bool = True,
    **module_kwargs,
):
    """Reconstruct physics frames with an egenerator model.

    Parameters
    ----------
    tray : I3Tray
    name : str
        Name of the segment (its module is ``<name>_reconstruction``).
    pulse_key : str
        I3RecoPulseSeriesMap (or mask) of the pulses.
    dom_and_tw_exclusions : list of str
        Frame keys holding I3VectorOMKey (whole DOMs) or I3TimeWindowSeriesMap (windows);
        missing keys are skipped. Not modified.
    partial_exclusion : bool
        True: only pulses inside time windows are removed and the windows are passed to the
        likelihood; False: DOMs with a time window are excluded entirely.
    exclude_bright_doms : bool
        Exclude DOMs with charge > ``bright_doms_threshold_fraction`` x event charge AND >
        ``bright_doms_threshold_charge`` [PE].
    bright_doms_threshold_fraction, bright_doms_threshold_charge : float
    merge_pulses_time_threshold : float or None
        Merge consecutive pulses of a DOM closer than this [ns].
    clean_up : bool
        False: keep the pulses and exclusions the likelihood saw as ``<name>_Pulses``,
        ``<name>_ExcludedDOMs``, ``<name>_BrightDOMs``, ``<name>_TimeWindows``.
    **module_kwargs
        Parameters of EventGeneratorReconstruction (``model_names``, ``seed_keys``,
        ``output_key``, ``add_covariances``, ``batch_size``, ``If``, ...).
    """
    if dom_and_tw_exclusions is None:
        exclusions: list[str] = []
    elif isinstance(dom_and_tw_exclusions, str):
        exclusions = [dom_and_tw_exclusions]
    else:
        exclusions = [str(key) for key in dom_and_tw_exclusions]  # a copy: never mutated
    known = {p[0].lower() for p in PARAMETERS} | {"if", "icepickservicekey"}
    for key in module_kwargs:
        if key.lower() in _SEGMENT_OWNED:
            raise SegmentConfigError(
                f"ApplyEventGenerator: '{key}' is set by the segment; use its own arguments "
                "(pulse_key, dom_and_tw_exclusions, partial_exclusion, exclude_bright_doms, "
                "bright_doms_threshold_*, merge_pulses_time_threshold, clean_up)"
            )
        if key.lower() not in known:
            raise SegmentConfigError(
                f"ApplyEventGenerator: unknown keyword '{key}'; EventGeneratorReconstruction "
                f"parameters: {sorted(p[0] for p in PARAMETERS)}"
            )
    tray.AddModule(
        EventGeneratorReconstruction,
        f"{name}_reconstruction",
        pulse_key=pulse_key,
        exclusion_keys=exclusions,
        partial_exclusion=partial_exclusion,
        exclude_bright_doms=exclude_bright_doms,
        bright_doms_threshold_fraction=bright_doms_threshold_fraction,
        bright_doms_threshold_charge=bright_doms_threshold_charge,
        merge_pulses_time_threshold=merge_pulses_time_threshold,
        exclusions_output_key=None if clean_up else name,
        **module_kwargs,
    )


#: The name processing chains use.
ApplyEventGeneratorReconstruction = ApplyEventGenerator
