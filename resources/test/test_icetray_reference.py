"""The numpy reference of the IceTray layer (exclusions, bright DOMs); runs without IceTray."""

from __future__ import annotations

import numpy as np
import pytest
from egenerator.detector import DetectorTable
from egenerator.icetray.bright_doms import bright_dom_mask, bright_doms_from_pulses
from egenerator.icetray.exclusions import (
    EventArrays,
    ExclusionSettings,
    FrameConversionError,
    TimeWindowMap,
    apply_exclusions,
    merge_time_windows,
)


def tiny_detector(num_strings: int = 3, doms_per_string: int = 5) -> DetectorTable:
    string = np.repeat(np.arange(1, num_strings + 1), doms_per_string)
    om = np.tile(np.arange(1, doms_per_string + 1), num_strings)
    n = len(string)
    return DetectorTable(
        string=string,
        om=om,
        x=string * 100.0,
        y=np.zeros(n),
        z=-om * 17.0,
        efficiency=np.ones(n),
        noise_rate_hz=np.full(n, 500.0),
        dead=np.zeros(n, bool),
        source="small-test-detector",
    )


def windows(rows: list[tuple[int, int, float, float]]) -> TimeWindowMap:
    if not rows:
        return TimeWindowMap.empty()
    s, o, a, b = zip(*rows, strict=True)
    return TimeWindowMap(np.array(s), np.array(o), np.array(a, float), np.array(b, float))


NO_BRIGHT = ExclusionSettings(exclude_bright_doms=False)


# ---------------------------------------------------------------------- brute-force reference
def brute_force(string, om, time, charge, detector, dom_lists, window_maps, settings):
    """Pulse-by-pulse Python loops, written from the rules in the module docstring."""
    key_to_index = {
        (int(s), int(o)): i
        for i, (s, o) in enumerate(zip(detector.string, detector.om, strict=True))
    }
    num_doms = detector.num_doms
    pulses = []
    for s, o, t, q in zip(string, om, time, charge, strict=True):
        if (int(s), int(o)) in key_to_index:
            pulses.append((key_to_index[(int(s), int(o))], float(t), float(q)))
    valid = [True] * num_doms
    for dom_list in dom_lists:
        for s, o in dom_list:
            if (int(s), int(o)) in key_to_index:
                valid[key_to_index[(int(s), int(o))]] = False
    per_dom_windows: dict[int, list[tuple[float, float]]] = {}
    for wmap in window_maps:
        for s, o, a, b in zip(wmap.string, wmap.om, wmap.start_ns, wmap.stop_ns, strict=True):
            if (int(s), int(o)) in key_to_index and b > a:
                per_dom_windows.setdefault(key_to_index[(int(s), int(o))], []).append((a, b))
    if not settings.partial_exclusion:
        for d in per_dom_windows:
            valid[d] = False
    bright = []
    if settings.exclude_bright_doms:
        dom_charge = [0.0] * num_doms
        for d, _, q in pulses:
            dom_charge[d] += q
        total = sum(dom_charge)
        for d in range(num_doms):
            if (
                dom_charge[d] > settings.bright_doms_threshold_fraction * total
                and dom_charge[d] > settings.bright_doms_threshold_charge_pe
            ):
                bright.append(d)
                valid[d] = False
    merged: list[tuple[int, float, float]] = []
    if settings.partial_exclusion:
        for d in sorted(per_dom_windows):
            if not valid[d]:
                continue
            current = None
            for a, b in sorted(per_dom_windows[d]):
                if current is not None and a <= current[1]:
                    current = (current[0], max(current[1], b))
                else:
                    if current is not None:
                        merged.append((d, *current))
                    current = (a, b)
            merged.append((d, *current))
    kept = []
    for d, t, q in sorted(pulses, key=lambda p: (p[0], p[1])):
        if not valid[d]:
            continue
        if any(wd == d and a <= t < b for wd, a, b in merged):
            continue
        kept.append([d, t, q])
    threshold = settings.merge_pulses_time_threshold_ns
    if threshold is not None:
        out = []
        last_time = None
        for p in kept:
            if out and out[-1][0] == p[0] and p[1] - last_time < threshold:
                out[-1][2] += p[2]
            else:
                out.append(list(p))
            last_time = p[1]
        kept = out
    return kept, valid, merged, bright


def random_event(rng, detector, num_pulses):
    d = rng.integers(0, detector.num_doms, num_pulses)
    string = detector.string[d].astype(np.int64)
    om = detector.om[d].astype(np.int64)
    # a few IceTop pulses that must be skipped
    string[:3] = [1, 2, 3]
    om[:3] = [61, 62, 63]
    time = np.round(rng.uniform(0.0, 100.0, num_pulses))  # integers: many exact ties/boundaries
    charge = rng.gamma(1.0, 5.0, num_pulses)
    charge[5] = 3000.0 if rng.random() < 0.5 else 300.0  # a bright DOM in about half the events
    return string, om, time, charge


def random_windows(rng, detector, num_windows):
    d = rng.integers(0, detector.num_doms, num_windows)
    start = np.round(rng.uniform(-10.0, 100.0, num_windows))
    stop = start + np.round(rng.uniform(-5.0, 40.0, num_windows))  # some empty or inverted
    start[:2] = -np.inf
    stop[2] = np.inf
    return TimeWindowMap(detector.string[d], detector.om[d], start, stop)


@pytest.mark.parametrize("partial", [True, False])
@pytest.mark.parametrize("merge", [None, 3.0])
@pytest.mark.parametrize("bright", [True, False])
def test_matches_brute_force(partial, merge, bright):
    rng = np.random.default_rng(7)
    detector = tiny_detector()
    settings = ExclusionSettings(
        partial_exclusion=partial,
        exclude_bright_doms=bright,
        merge_pulses_time_threshold_ns=merge,
    )
    for _ in range(20):
        string, om, time, charge = random_event(rng, detector, 200)
        dom_lists = [
            np.stack([detector.string[:2], detector.om[:2]], axis=1),
            np.array([[1, 61], [99, 1]]),  # IceTop and unknown DOMs: ignored
        ]
        window_maps = [random_windows(rng, detector, 12), random_windows(rng, detector, 6)]
        result = apply_exclusions(
            string, om, time, charge, detector, dom_lists, window_maps, settings, source="random"
        )
        kept, valid, merged, bright_doms = brute_force(
            string, om, time, charge, detector, dom_lists, window_maps, settings
        )
        expected = np.array(kept).reshape(-1, 3)
        np.testing.assert_array_equal(result.pulse_dom, expected[:, 0].astype(int))
        np.testing.assert_array_equal(result.pulse_time_ns, expected[:, 1])
        np.testing.assert_allclose(result.pulse_charge_pe, expected[:, 2], rtol=1e-12)
        np.testing.assert_array_equal(result.dom_valid, valid)
        np.testing.assert_array_equal(result.bright_doms, bright_doms)
        merged = np.array(merged).reshape(-1, 3)
        np.testing.assert_array_equal(result.window_dom, merged[:, 0].astype(int))
        np.testing.assert_array_equal(result.window_start_ns, merged[:, 1])
        np.testing.assert_array_equal(result.window_stop_ns, merged[:, 2])
        dom_charge = np.bincount(
            expected[:, 0].astype(int), weights=expected[:, 2], minlength=detector.num_doms
        )
        np.testing.assert_allclose(result.dom_charge_pe, dom_charge, rtol=1e-12)


# ---------------------------------------------------------------------- hand-made events
def test_window_boundaries_are_start_inclusive_stop_exclusive():
    detector = tiny_detector()
    time = np.array([9.999, 10.0, 15.0, 19.999, 20.0, 20.001])
    ones = np.ones(len(time), int)
    result = apply_exclusions(
        ones,
        ones,
        time,
        np.ones(len(time)),
        detector,
        (),
        [windows([(1, 1, 10.0, 20.0)])],
        NO_BRIGHT,
    )
    np.testing.assert_array_equal(result.pulse_time_ns, [9.999, 20.0, 20.001])
    assert result.dom_valid.all()
    np.testing.assert_array_equal(result.window_dom, [0])
    np.testing.assert_array_equal(result.window_start_ns, [10.0])
    np.testing.assert_array_equal(result.window_stop_ns, [20.0])


def test_overlapping_and_touching_windows_merge_per_dom():
    detector = tiny_detector()
    wmap = windows(
        [
            (1, 1, 30.0, 40.0),
            (1, 1, 10.0, 20.0),
            (1, 1, 15.0, 25.0),  # overlaps the first
            (1, 1, 25.0, 28.0),  # touches: [10, 28)
            (1, 1, 50.0, 45.0),  # inverted: ignored
            (1, 2, 12.0, 14.0),  # other DOM: not merged with DOM (1, 1)
            (1, 1, 35.0, 38.0),  # inside [30, 40)
        ]
    )
    dom, start, stop = merge_time_windows(
        np.array([0, 0, 0, 0, 1, 0]),
        np.array([30.0, 10.0, 15.0, 25.0, 12.0, 35.0]),
        np.array([40.0, 20.0, 25.0, 28.0, 14.0, 38.0]),
    )
    np.testing.assert_array_equal(dom, [0, 0, 1])
    np.testing.assert_array_equal(start, [10.0, 30.0, 12.0])
    np.testing.assert_array_equal(stop, [28.0, 40.0, 14.0])
    result = apply_exclusions(
        np.ones(4, int),
        np.ones(4, int),
        np.array([27.9, 28.0, 29.0, 39.0]),
        np.ones(4),
        detector,
        (),
        [wmap],
        NO_BRIGHT,
    )
    np.testing.assert_array_equal(result.pulse_time_ns, [28.0, 29.0])
    np.testing.assert_array_equal(result.window_start_ns, [10.0, 30.0, 12.0])


def test_infinite_windows_and_no_partial_exclusion():
    detector = tiny_detector()
    wmap = windows([(2, 3, -np.inf, np.inf), (3, 1, 5.0, 5.0)])  # second is empty
    string = np.array([2, 2, 3])
    om = np.array([3, 4, 1])
    time = np.array([1.0e9, 3.0, 5.0])
    partial = apply_exclusions(string, om, time, np.ones(3), detector, (), [wmap], NO_BRIGHT)
    np.testing.assert_array_equal(partial.pulse_time_ns, [3.0, 5.0])
    assert partial.dom_valid.all()
    assert partial.window_start_ns[0] == -np.inf and partial.window_stop_ns[0] == np.inf
    whole = apply_exclusions(
        string,
        om,
        time,
        np.ones(3),
        detector,
        (),
        [wmap],
        ExclusionSettings(partial_exclusion=False, exclude_bright_doms=False),
    )
    np.testing.assert_array_equal(whole.pulse_time_ns, [3.0, 5.0])
    assert not whole.dom_valid[detector.index_of(2, 3)]
    assert whole.dom_valid.sum() == detector.num_doms - 1
    assert len(whole.window_dom) == 0


def test_bright_doms_need_both_thresholds():
    charge = np.array([[50.0, 10.0, 5.0], [150.0, 200.0, 160.0], [500.0, 200.0, 100.0]])
    mask = bright_dom_mask(charge)
    # row 0: 50 > 0.4 * 65 but not > 100 PE; row 1: 200 > 100 but not > 0.4 * 510
    np.testing.assert_array_equal(mask, [[False] * 3, [False] * 3, [True, False, False]])
    np.testing.assert_array_equal(
        bright_doms_from_pulses(np.array([0, 0, 2]), np.array([60.0, 60.0, 1.0]), 4), [0]
    )
    # exactly at the threshold is not bright (strict inequalities)
    assert not bright_dom_mask(np.array([100.0, 150.0]), 0.4, 100.0)[0]

    detector = tiny_detector()
    result = apply_exclusions(
        np.array([1, 1, 2, 3]),
        np.array([1, 1, 2, 3]),
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([80.0, 70.0, 40.0, 10.0]),
        detector,
    )
    np.testing.assert_array_equal(result.bright_doms, [0])
    assert not result.dom_valid[0]
    np.testing.assert_array_equal(result.pulse_dom, detector.index_of([2, 3], [2, 3]))


def test_pulse_merging_chains_gaps_below_threshold():
    detector = tiny_detector()
    time = np.array([0.0, 4.0, 8.0, 20.0, 24.9, 30.0, 1.0])
    om = np.array([1, 1, 1, 1, 1, 1, 2])
    result = apply_exclusions(
        np.ones(7, int),
        om,
        time,
        np.arange(1.0, 8.0),
        detector,
        (),
        (),
        ExclusionSettings(exclude_bright_doms=False, merge_pulses_time_threshold_ns=5.0),
    )
    np.testing.assert_array_equal(result.pulse_time_ns, [0.0, 20.0, 30.0, 1.0])
    np.testing.assert_array_equal(result.pulse_charge_pe, [6.0, 9.0, 6.0, 7.0])
    np.testing.assert_array_equal(result.pulse_dom, [0, 0, 0, 1])


def test_inputs_are_not_mutated():
    rng = np.random.default_rng(3)
    detector = tiny_detector()
    string, om, time, charge = random_event(rng, detector, 100)
    dom_lists = [np.array([[1, 2], [3, 3]])]
    wmap = random_windows(rng, detector, 8)
    arrays = [
        string,
        om,
        time,
        charge,
        dom_lists[0],
        wmap.string,
        wmap.om,
        wmap.start_ns,
        wmap.stop_ns,
    ]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.setflags(write=False)  # any in-place write raises
    apply_exclusions(
        string,
        om,
        time,
        charge,
        detector,
        dom_lists,
        [wmap],
        ExclusionSettings(merge_pulses_time_threshold_ns=2.0),
    )
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_unknown_inice_dom_and_nan_are_errors():
    detector = tiny_detector()
    with pytest.raises(FrameConversionError, match=r"event-7.*not in the detector table.*\(9, 1\)"):
        apply_exclusions([9], [1], [1.0], [1.0], detector, source="event-7")
    with pytest.raises(FrameConversionError, match=r"event-8: 'pulse time' entry 1 is nan"):
        apply_exclusions([1, 1], [1, 2], [1.0, np.nan], [1.0, 1.0], detector, source="event-8")
    with pytest.raises(FrameConversionError, match="merge_pulses_time_threshold_ns"):
        ExclusionSettings(merge_pulses_time_threshold_ns=-1.0)
    # IceTop pulses are skipped silently
    result = apply_exclusions([1, 1], [61, 1], [1.0, 2.0], [1.0, 1.0], detector)
    np.testing.assert_array_equal(result.pulse_time_ns, [2.0])


def test_empty_event_and_event_batch_row():
    detector = tiny_detector()
    empty = apply_exclusions([], [], [], [], detector)
    assert empty.num_pulses == 0 and empty.dom_valid.all()
    result = apply_exclusions(
        [1, 2],
        [1, 1],
        [10.0, 30.0],
        [1.0, 2.0],
        detector,
        (),
        [windows([(3, 3, 0.0, 5.0)])],
        NO_BRIGHT,
    )
    assert isinstance(result, EventArrays)
    np.testing.assert_array_equal(result.readout_window_ns(100.0), [-90.0, 130.0])
    batch = result.to_event_batch(np.arange(7.0), result.readout_window_ns(), [1, 2, 0, 0])
    assert batch.num_events == 1 and batch.num_doms == detector.num_doms
    np.testing.assert_array_equal(batch.pulse_event, [0, 0])
    np.testing.assert_array_equal(batch.window_exclusions_ns, [[0.0, 5.0]])
    np.testing.assert_array_equal(batch.window_dom, [detector.index_of(3, 3)])
    assert batch.dom_charge[0, detector.index_of(2, 1)] == 2.0
