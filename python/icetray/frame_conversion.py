"""IceTray frame -> flat arrays / EventBatch row.

Uses the C++ converter ``icecube._egenerator`` when it imports (IceTray build with egenerator),
otherwise the numpy reference of :mod:`.exclusions` (pulses are then read from the frame with a
loop over DOMs in Python, which is slower). Both give identical arrays. IceTray is imported
lazily, so this module imports without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.batch import EventBatch
from ..detector import DetectorTable
from .exclusions import (
    EventArrays,
    ExclusionSettings,
    FrameConversionError,
    TimeWindowMap,
    apply_exclusions,
)

DEFAULT_PULSE_KEY = "SplitInIceDSTPulses"
DEFAULT_EXCLUSION_KEYS = ("BadDomsList", "CalibrationErrata", "SaturationWindows")
DEFAULT_TIME_WINDOW_BUFFER_NS = 100.0


def cpp_converter_available() -> bool:
    """True when ``icecube._egenerator`` (the C++ converter) imports."""
    try:
        from icecube import _egenerator  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- frame objects -> numpy
def flatten_pulse_map(pulse_map) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(string, om, time_ns, charge_pe) of an ``I3RecoPulseSeriesMap`` in map order.

    Pure Python (a loop over DOMs and a list comprehension over each DOM's pulses); used by the
    numpy reference path. ``icecube._egenerator.flatten_pulse_map`` does the same in C++.
    """
    strings, oms, times, charges = [], [], [], []
    for key, series in pulse_map.items():
        n = len(series)
        strings.append(np.full(n, key.string, dtype=np.int64))
        oms.append(np.full(n, key.om, dtype=np.int64))
        times.append(np.array([p.time for p in series], dtype=np.float64))
        charges.append(np.array([p.charge for p in series], dtype=np.float64))
    if not strings:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return (
        np.concatenate(strings),
        np.concatenate(oms),
        np.concatenate(times),
        np.concatenate(charges),
    )


def dom_list_to_array(dom_list) -> np.ndarray:
    """[K, 2] (string, om) of an ``I3VectorOMKey``."""
    return np.array([(k.string, k.om) for k in dom_list], dtype=np.int64).reshape(-1, 2)


def window_map_to_table(window_map) -> TimeWindowMap:
    """Flat :class:`TimeWindowMap` of an ``I3TimeWindowSeriesMap``."""
    rows = [
        (key.string, key.om, window.start, window.stop)
        for key, series in window_map.items()
        for window in series
    ]
    if not rows:
        return TimeWindowMap.empty()
    string, om, start, stop = (np.array(column) for column in zip(*rows, strict=True))
    return TimeWindowMap(
        string.astype(np.int64), om.astype(np.int64), start.astype(float), stop.astype(float)
    )


def read_pulses(frame, pulse_key: str):
    """The pulse map at ``pulse_key`` (masks and unions resolved)."""
    from icecube import dataclasses

    if pulse_key not in frame:
        raise FrameConversionError(f"frame has no pulse key '{pulse_key}'")
    try:
        return dataclasses.I3RecoPulseSeriesMap.from_frame(frame, pulse_key)
    except (TypeError, RuntimeError) as error:
        raise FrameConversionError(
            f"frame key '{pulse_key}' is not an I3RecoPulseSeriesMap (or mask/union): {error}"
        ) from None


def read_exclusions(
    frame, exclusion_keys: Sequence[str]
) -> tuple[list[np.ndarray], list[TimeWindowMap]]:
    """DOM lists and time-window maps of the present exclusion keys (missing keys skipped)."""
    from icecube import dataclasses

    dom_lists: list[np.ndarray] = []
    window_maps: list[TimeWindowMap] = []
    for key in exclusion_keys:
        if key not in frame:
            continue
        value = frame[key]
        if isinstance(value, dataclasses.I3VectorOMKey):
            dom_lists.append(dom_list_to_array(value))
        elif isinstance(value, dataclasses.I3TimeWindowSeriesMap):
            window_maps.append(window_map_to_table(value))
        else:
            raise FrameConversionError(
                f"exclusion key '{key}' holds a {type(value).__name__}, "
                "expected I3VectorOMKey or I3TimeWindowSeriesMap"
            )
    return dom_lists, window_maps


def event_id_of(frame) -> np.ndarray:
    """[4] (Run, Event, SubEvent, SubEventStream) from ``I3EventHeader``; zeros without one.

    IceTray names sub-event streams by strings; the fourth entry is 0 (hdfwriter numbers the
    streams per file, which a single frame cannot know).
    """
    if "I3EventHeader" not in frame:
        return np.zeros(4, dtype=np.int64)
    header = frame["I3EventHeader"]
    return np.array([header.run_id, header.event_id, header.sub_event_id, 0], dtype=np.int64)


# ---------------------------------------------------------------------- the converter
class FrameConverter:
    """Converts frames to :class:`EventArrays` on a fixed detector table.

    Parameters
    ----------
    detector : DetectorTable
        DOM table of the model (DOM index = row).
    pulse_key : str
        Frame key of the pulses (I3RecoPulseSeriesMap or a mask/union of one).
    exclusion_keys : sequence of str
        Keys holding I3VectorOMKey (whole DOMs) or I3TimeWindowSeriesMap (windows); missing
        keys are skipped.
    settings : ExclusionSettings, optional
        Partial exclusion, bright DOMs, pulse merging.
    use_cpp : bool, optional
        True: require ``icecube._egenerator``; False: numpy reference; None: C++ when present.
    """

    def __init__(
        self,
        detector: DetectorTable,
        pulse_key: str = DEFAULT_PULSE_KEY,
        exclusion_keys: Sequence[str] = DEFAULT_EXCLUSION_KEYS,
        settings: ExclusionSettings | None = None,
        use_cpp: bool | None = None,
    ) -> None:
        self.detector = detector
        self.pulse_key = pulse_key
        self.exclusion_keys = tuple(exclusion_keys)
        self.settings = ExclusionSettings() if settings is None else settings
        if use_cpp is None:
            use_cpp = cpp_converter_available()
        self.use_cpp = bool(use_cpp)
        self._cpp = None
        if self.use_cpp:
            from icecube import _egenerator

            merge = self.settings.merge_pulses_time_threshold_ns
            self._cpp = _egenerator.FrameConverter(
                detector.string.tolist(),
                detector.om.tolist(),
                partial_exclusion=self.settings.partial_exclusion,
                exclude_bright_doms=self.settings.exclude_bright_doms,
                bright_doms_threshold_fraction=self.settings.bright_doms_threshold_fraction,
                bright_doms_threshold_charge=self.settings.bright_doms_threshold_charge_pe,
                merge_pulses_time_threshold=-1.0 if merge is None else float(merge),
            )

    def convert(self, frame) -> EventArrays:
        """Pulses of ``pulse_key`` after the exclusions of ``exclusion_keys``."""
        if self._cpp is not None:
            try:
                arrays = self._cpp.convert(frame, self.pulse_key, list(self.exclusion_keys))
            except ValueError as error:
                raise FrameConversionError(str(error)) from None
            return EventArrays(**arrays)
        pulses = read_pulses(frame, self.pulse_key)
        dom_lists, window_maps = read_exclusions(frame, self.exclusion_keys)
        string, om, time_ns, charge_pe = flatten_pulse_map(pulses)
        return apply_exclusions(
            string,
            om,
            time_ns,
            charge_pe,
            self.detector,
            dom_lists,
            window_maps,
            self.settings,
            source=f"frame key '{self.pulse_key}'",
        )

    def time_window_ns(
        self,
        frame,
        arrays: EventArrays,
        time_window_key: str | None = None,
        buffer_ns: float = DEFAULT_TIME_WINDOW_BUFFER_NS,
    ) -> np.ndarray:
        """[2] readout window: the I3TimeWindow at ``time_window_key`` when present, else the
        surviving pulses +- ``buffer_ns``."""
        if time_window_key is not None and time_window_key in frame:
            window = frame[time_window_key]
            return np.array([window.start, window.stop], dtype=np.float64)
        return arrays.readout_window_ns(buffer_ns)

    def event_batch(
        self,
        frame,
        parameters: np.ndarray,
        time_window_key: str | None = None,
        buffer_ns: float = DEFAULT_TIME_WINDOW_BUFFER_NS,
    ) -> EventBatch:
        """An :class:`EventBatch` with the frame as its single event.

        Parameters
        ----------
        frame : icecube.icetray.I3Frame
            A physics frame.
        parameters : [P] float
            Parameters of the event (seed or labels).
        time_window_key : str, optional
            Frame key of an I3TimeWindow giving the readout window.
        buffer_ns : float
            Margin around the pulses when there is no readout window [ns].
        """
        arrays = self.convert(frame)
        return arrays.to_event_batch(
            parameters,
            self.time_window_ns(frame, arrays, time_window_key, buffer_ns),
            event_id_of(frame),
        )
