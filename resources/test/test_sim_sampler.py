"""The simulator's random events against the exact oracle and brute-force references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from egenerator.detector import DetectorTable
from egenerator.sim import oracle
from egenerator.sim.physics import PhysicsConfig
from egenerator.sim.sampler import (
    SamplerError,
    concatenate_chunks,
    event_generator,
    greedy_pulse_starts,
    sample_parameters,
    simulate_events,
    spe_charges,
)
from scipy import stats

CONFIG = PhysicsConfig()
FIXED = {"x": 0.0, "y": 0.0, "z": 0.0, "zenith": np.pi / 2, "azimuth": 0.3, "energy": 3e3,
         "time": 10000.0}  # fmt: skip
PARAMS = np.array([[0.0, 0.0, 0.0, np.pi / 2, 0.3, 3e3, 10000.0]])
P_MIN = 1e-3


def _line_detector(distances, noise_hz=2000.0, dead=None) -> DetectorTable:
    """DOMs on the y axis at the given distances (a horizontal cascade at the origin)."""
    distances = np.asarray(distances, dtype=float)
    n = len(distances)
    return DetectorTable(
        string=np.arange(1, n + 1), om=np.ones(n, int), x=np.zeros(n), y=distances,
        z=np.zeros(n), efficiency=np.ones(n), noise_rate_hz=np.full(n, float(noise_hz)),
        dead=np.zeros(n, bool) if dead is None else np.asarray(dead),
    )  # fmt: skip


def _simulate(n, seed, det, config=CONFIG, chunk_size=1000, fixed=FIXED):
    return concatenate_chunks(
        list(simulate_events(n, seed, det, config=config, fixed=fixed, chunk_size=chunk_size))
    )


# ----------------------------------------------------------------------------- pulses
def _greedy_reference(keys: np.ndarray, merge: int) -> np.ndarray:
    starts = np.zeros(keys.size, bool)
    first = None
    for i, key in enumerate(keys):
        if first is None or key - first > merge or (key >> 40) != (first >> 40):
            starts[i] = True
            first = key
    return starts


def test_greedy_merge_matches_loop():
    rng = np.random.default_rng(3)
    segment = np.sort(rng.integers(0, 40, 3000)).astype(np.int64)
    # clustered times: dense bursts and sparse tails, integer units, merge window 50
    times = np.concatenate([rng.integers(0, 400, 2000), rng.integers(0, 100000, 1000)])
    keys = (segment << 40) | rng.permutation(times).astype(np.int64)
    keys.sort()
    for merge in (0, 1, 50, 500):
        np.testing.assert_array_equal(
            greedy_pulse_starts(keys, merge), _greedy_reference(keys, merge)
        )
    assert greedy_pulse_starts(np.zeros(0, np.int64), 5).size == 0


def test_spe_charges_truncated_normal():
    charges = spe_charges(np.random.default_rng(1), 20000, CONFIG)
    assert charges.min() >= 0.25
    reference = stats.truncnorm((0.25 - 1.0) / 0.3, np.inf, loc=1.0, scale=0.3)
    assert stats.kstest(charges, reference.cdf).pvalue > P_MIN


# ----------------------------------------------------------------------------- vs oracle
def test_mean_charge_per_dom_chi_square():
    det = _line_detector([3.0, 10.0, 30.0, 60.0, 100.0, 150.0, 250.0])
    n = 1500
    events = _simulate(n, 11, det)
    charge = np.zeros((n, det.num_doms))
    np.add.at(charge, (events.pulse_event, events.pulse_dom), events.pulse_charge_pe)
    expected_pe = oracle.expected_charge(PARAMS, det, CONFIG)[0]
    truncated = stats.truncnorm((0.25 - 1.0) / 0.3, np.inf, loc=1.0, scale=0.3)
    # compound Poisson: mean lambda E[q], variance lambda E[q^2]
    mean = expected_pe * truncated.mean()
    variance = expected_pe * truncated.moment(2) / n
    chi2 = np.sum((charge.mean(axis=0) - mean) ** 2 / variance)
    assert stats.chi2.sf(chi2, det.num_doms) > P_MIN
    # the test is sharp enough to see the 0.5 % shift of the truncated SPE mean
    chi2_untruncated = np.sum((charge.mean(axis=0) - expected_pe) ** 2 / variance)
    assert stats.chi2.sf(chi2_untruncated, det.num_doms) < 1e-6


def _pooled_ks(events, det, dom, config, max_samples=20000):
    times = events.pulse_time_ns[events.pulse_dom == dom]
    if times.size > max_samples:
        times = np.random.default_rng(dom).choice(times, max_samples, replace=False)

    def cdf(t):
        n = t.size
        return oracle.time_cdf(t, np.zeros(n, int), np.full(n, dom), PARAMS, det, config)

    return times.size, stats.kstest(times, cdf).pvalue


def test_photoelectron_times_ks_without_merging():
    """With merge_ns = 0 every pulse is one photoelectron: the pooled times of a DOM are i.i.d.
    from the oracle's mixture density."""
    config = dataclasses.replace(CONFIG, merge_ns=0.0)
    det = _line_detector([2.0, 25.0, 120.0, 200.0], noise_hz=20000.0)
    events = _simulate(600, 12, det, config=config)
    for dom in range(det.num_doms):
        size, p_value = _pooled_ks(events, det, dom, config)
        assert size > 250
        assert p_value > P_MIN, (dom, size, p_value)


def test_single_photoelectron_pulses_ks():
    """At a faint DOM (expected 0.2 PE) the pulses are single photoelectrons: their times follow
    the oracle's density with the default merging."""
    det = _line_detector([250.0, 280.0])
    events = _simulate(3000, 13, det)
    for dom in range(det.num_doms):
        size, p_value = _pooled_ks(events, det, dom, CONFIG)
        assert size > 300
        assert p_value > P_MIN


def test_noise_rate_and_uniform_times():
    rate = 1e5
    det = _line_detector([5000.0, 6000.0, 7000.0], noise_hz=rate)
    n = 300
    events = _simulate(n, 14, det)
    assert events.mc_pulse_time_ns.size == 0  # no cascade light at 5 km
    expected = rate * 1e-9 * 20000.0  # 2 per DOM and event; merging in 5 ns is rare
    counts = np.bincount(events.pulse_dom, minlength=3)
    chi2 = np.sum((counts - n * expected) ** 2 / (n * expected))
    assert stats.chi2.sf(chi2, 3) > P_MIN
    assert stats.kstest(events.pulse_time_ns, stats.uniform(0, 20000).cdf).pvalue > P_MIN


def test_without_noise_pulses_equal_mc_pulses():
    det = _line_detector([5.0, 40.0], noise_hz=0.0)
    events = _simulate(30, 15, det)
    np.testing.assert_array_equal(events.pulse_time_ns, events.mc_pulse_time_ns)
    np.testing.assert_array_equal(events.pulse_charge_pe, events.mc_pulse_charge_pe)
    assert events.pulse_time_ns.size > 1000


# ----------------------------------------------------------------------------- structure
def test_structure_dead_doms_and_merging(small_detector):
    dead = np.zeros(small_detector.num_doms, bool)
    dead[[3, 50, 200]] = True
    det = dataclasses.replace(small_detector, dead=dead)
    events = _simulate(6, 16, det, fixed={"energy": 2e5, "x": 0.0, "y": 0.0, "z": 0.0})
    np.testing.assert_array_equal(events.bad_doms, [3, 50, 200])
    assert not np.isin(events.pulse_dom, [3, 50, 200]).any()
    assert not np.isin(events.mc_pulse_dom, [3, 50, 200]).any()
    for event, dom, time in (
        (events.pulse_event, events.pulse_dom, events.pulse_time_ns),
        (events.mc_pulse_event, events.mc_pulse_dom, events.mc_pulse_time_ns),
    ):
        order = np.lexsort((time, dom, event))
        np.testing.assert_array_equal(order, np.arange(order.size))
        same_dom = (np.diff(event) == 0) & (np.diff(dom) == 0)
        assert np.all(np.diff(time)[same_dom] > CONFIG.merge_ns)  # pulses start > 5 ns apart
        assert np.all((time >= 0) & (time < 20000))
    assert np.all(events.pulse_charge_pe >= 0.25)
    # cascade charge is part of the total charge of each DOM
    total = np.zeros((6, det.num_doms))
    mc = np.zeros((6, det.num_doms))
    np.add.at(total, (events.pulse_event, events.pulse_dom), events.pulse_charge_pe)
    np.add.at(mc, (events.mc_pulse_event, events.mc_pulse_dom), events.mc_pulse_charge_pe)
    assert np.all(total >= mc - 1e-9)
    np.testing.assert_array_equal(events.event_number, np.arange(6))
    np.testing.assert_array_equal(events.readout_window_ns, np.tile([0.0, 20000.0], (6, 1)))


def test_deterministic_for_any_chunk_size(small_detector):
    a = concatenate_chunks(list(simulate_events(9, 21, small_detector, chunk_size=2)))
    b = concatenate_chunks(list(simulate_events(9, 21, small_detector, chunk_size=9)))
    c = concatenate_chunks(list(simulate_events(9, 22, small_detector, chunk_size=9)))
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f.name
        else:
            assert x == y
    assert not np.array_equal(a.parameters, c.parameters)
    assert a.run_id == 21 and c.run_id == 22


def test_sample_parameters_distribution():
    n = 4000
    p = sample_parameters(n, 5)
    radius2 = (p[:, 0] ** 2 + p[:, 1] ** 2) / 550.0**2
    assert stats.kstest(radius2, "uniform").pvalue > P_MIN
    assert stats.kstest(p[:, 2], stats.uniform(-550, 1100).cdf).pvalue > P_MIN
    assert stats.kstest(np.cos(p[:, 3]), stats.uniform(-1, 2).cdf).pvalue > P_MIN
    assert stats.kstest(p[:, 4], stats.uniform(0, 2 * np.pi).cdf).pvalue > P_MIN
    assert stats.kstest(np.log10(p[:, 5]), stats.uniform(3, 3).cdf).pvalue > P_MIN
    assert stats.kstest(p[:, 6], stats.uniform(9000, 1500).cdf).pvalue > P_MIN
    # fixing a column leaves the others unchanged; the simulator uses the same parameters
    q = sample_parameters(50, 5, fixed={"energy": 1e4}, energy_range_gev=(1e2, 1e3))
    np.testing.assert_array_equal(q[:, :5], p[:50, :5])
    np.testing.assert_array_equal(q[:, 5], 1e4)
    r = sample_parameters(50, 5, energy_range_gev=(1e2, 1e3))
    assert np.all((r[:, 5] >= 1e2) & (r[:, 5] <= 1e3))
    det = _line_detector([10.0])
    sim = concatenate_chunks(list(simulate_events(7, 5, det, chunk_size=3)))
    np.testing.assert_array_equal(sim.parameters, p[:7])
    assert event_generator(5, 0).random() == event_generator(5, 0).random()


def test_argument_errors():
    det = _line_detector([10.0])
    with pytest.raises(SamplerError, match="'energie'"):
        simulate_events(1, 0, det, fixed={"energie": 1.0})
    with pytest.raises(SamplerError, match="seed"):
        simulate_events(1, -1, det)
    with pytest.raises(SamplerError, match="chunk_size"):
        simulate_events(1, 0, det, chunk_size=0)
    with pytest.raises(SamplerError, match="energy_range_gev"):
        simulate_events(1, 0, det, energy_range_gev=(10.0, 1.0))
    with pytest.raises(SamplerError, match="'x'"):
        sample_parameters(1, 0, fixed={"x": "left"})
