"""IndependentMultiSource: sums and charge-weighted mixtures, stacking, nesting, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from egenerator.data.batch import EventBatch
from egenerator.data.tensors import batch_to_tensors
from egenerator.detector import DetectorTable, ic86_like
from egenerator.model.multi_source.independent import IndependentMultiSource
from egenerator.model.source.base import SourceConfigError
from egenerator.model.source.cascade import CascadeSource
from egenerator.model.source.noise import NoiseSource

F64 = {"float_precision": "float64", "num_units": 16}


@pytest.fixture(scope="module")
def detector() -> DetectorTable:
    """Three neighbouring strings (180 DOMs)."""
    full = ic86_like()
    keep = np.isin(full.string, [1, 2, 3])
    return DetectorTable(
        **{k: getattr(full, k)[keep] for k in ("string", "om", "x", "y", "z")},
        efficiency=full.efficiency[keep],
        noise_rate_hz=full.noise_rate_hz[keep],
        dead=np.zeros(int(keep.sum()), dtype=bool),
    )


def cascade_params(rng: np.random.Generator, num: int, detector: DetectorTable) -> np.ndarray:
    centre = detector.positions.mean(axis=0)
    return np.column_stack(
        [
            centre[0] + rng.uniform(-60, 60, num),
            centre[1] + rng.uniform(-60, 60, num),
            rng.uniform(-300, 300, num),
            np.arccos(rng.uniform(-1, 1, num)),
            rng.uniform(0, 2 * np.pi, num),
            10 ** rng.uniform(3, 5, num),
            rng.uniform(9800, 10200, num),
        ]
    )


def make_batch(detector: DetectorTable, num_events: int, seed: int) -> EventBatch:
    """Random pulses (some DOMs have several) and non-overlapping exclusion windows."""
    rng = np.random.default_rng(seed)
    d = detector.num_doms
    windows = np.array([[0.0, 20000.0], [8000.0, 16000.0], [9000.0, 12000.0]])[
        np.arange(num_events) % 3
    ]
    events, doms, times = [], [], []
    for b in range(num_events):
        n = 40
        events.append(np.full(n, b))
        doms.append(rng.integers(0, d, n))
        times.append(rng.uniform(windows[b, 0], windows[b, 1], n))
    event, dom, time = (np.concatenate(x) for x in (events, doms, times))
    order = np.lexsort((time, dom, event))
    event, dom, time = event[order], dom[order], time[order]
    charge = rng.uniform(0.3, 3.0, len(time))
    dom_charge = np.zeros((num_events, d))
    np.add.at(dom_charge, (event, dom), charge)
    # exclusion windows: two per event on DOMs with pulses, one partly outside the window
    w_event, w_dom, w_ns = [], [], []
    for b in range(num_events):
        hit = np.unique(dom[event == b])[:2]
        for k, hd in enumerate(hit):
            start = windows[b, 0] - 500 if k == 0 else 10000.0
            w_event.append(b)
            w_dom.append(hd)
            w_ns.append([start, start + 1500.0])
            w_event.append(b)
            w_dom.append(hd)
            w_ns.append([start + 2000.0, start + 2600.0])
    return EventBatch(
        parameters=np.zeros((num_events, 0)),
        pulse_charge_pe=charge,
        pulse_time_ns=time,
        pulse_event=event,
        pulse_dom=dom,
        dom_charge=dom_charge,
        dom_valid=np.ones((num_events, d), dtype=bool),
        time_window_ns=windows,
        window_exclusions_ns=np.asarray(w_ns),
        window_event=np.asarray(w_event),
        window_dom=np.asarray(w_dom),
        event_id=np.zeros((num_events, 4), dtype=np.int64),
        weights=np.ones(num_events),
    )


def mix(batch: EventBatch, parts: list[dict]) -> dict:
    """Hand-computed combination of child results (numpy)."""
    charges = np.stack([p["dom_charges"].numpy() for p in parts])  # [C, B, D]
    total = charges.sum(0)
    excl = np.stack([p["dom_cdf_exclusion"].numpy() for p in parts])
    pulse_mu = charges[:, batch.pulse_event, batch.pulse_dom]  # [C, N]
    pdf = np.stack([p["pulse_pdf"].numpy() for p in parts])
    cdf = np.stack([p["pulse_cdf"].numpy() for p in parts])
    return {
        "dom_charges": total,
        "dom_charges_variance": sum(p["dom_charges_variance"].numpy() for p in parts),
        "dom_cdf_exclusion": (charges * excl).sum(0) / total,
        "pulse_pdf": (pulse_mu * pdf).sum(0) / pulse_mu.sum(0),
        "pulse_cdf": (pulse_mu * cdf).sum(0) / pulse_mu.sum(0),
    }


def assert_results_close(got: dict, want: dict, rtol: float = 1e-10) -> None:
    for key, value in want.items():
        np.testing.assert_allclose(np.asarray(got[key]), value, rtol=rtol, atol=1e-300, err_msg=key)


def test_sum_and_mixture_match_hand_computation(detector):
    cascade = CascadeSource(F64, detector, "cascade")
    noise = NoiseSource({}, detector, "noise")
    model = IndependentMultiSource(
        {"sources": {"c0": "cascade", "c1": "cascade", "noise": "noise"}},
        detector,
        bases={"cascade": cascade, "noise": noise},
    )
    assert model.parameter_names[:2] == ("c0_x", "c0_y")
    assert model.parameter_names[7:9] == ("c1_x", "c1_y") and model.num_parameters == 14
    rng = np.random.default_rng(1)
    batch = make_batch(detector, 3, seed=2)
    params = np.concatenate([cascade_params(rng, 3, detector), cascade_params(rng, 3, detector)], 1)
    result = model(params, batch)
    # one-by-one evaluation of each source (the batched call must equal it)
    parts = [
        cascade(params[:, :7], batch),
        cascade(params[:, 7:], batch),
        noise(params[:, :0], batch),
    ]
    assert_results_close(result, mix(batch, parts))
    for name, part in zip(("c0", "c1", "noise"), parts, strict=True):
        np.testing.assert_allclose(
            result["component_dom_charges"][name], part["dom_charges"], rtol=1e-12
        )
        for key in ("dom_charges", "pulse_pdf", "dom_cdf_exclusion"):
            np.testing.assert_allclose(result["nested_results"][name][key], part[key], rtol=1e-12)
    assert set(result["nested_results"]) == {"c0", "c1", "noise"}
    # exclusions are actually exercised
    assert np.count_nonzero(result["dom_cdf_exclusion"].numpy()) >= 4


def test_stacked_hypotheses_equal_separate_calls(detector):
    cascade = CascadeSource(F64, detector, "cascade")
    model = IndependentMultiSource(
        {"sources": {"a": "cascade", "b": "cascade", "n": "noise"}},
        detector,
        bases={"cascade": cascade, "noise": NoiseSource({}, detector)},
    )
    rng = np.random.default_rng(5)
    batch = make_batch(detector, 2, seed=3)
    tensors = batch_to_tensors(batch, tf.float64)
    stack = np.stack(
        [np.concatenate([cascade_params(rng, 2, detector)] * 2, 1) for _ in range(3)], axis=1
    )  # [B, S=3, 14]
    stacked = model.evaluate_stacked(tf.constant(stack), tensors)
    for s in range(3):
        single = model(stack[:, s], tensors)
        for key in ("dom_charges", "pulse_pdf", "pulse_cdf", "dom_cdf_exclusion"):
            np.testing.assert_allclose(stacked[key][:, s], single[key], rtol=1e-12, err_msg=key)
        np.testing.assert_allclose(
            stacked["nested_results"]["b"]["dom_charges"][:, s],
            single["nested_results"]["b"]["dom_charges"],
            rtol=1e-12,
        )


def test_nesting_three_deep(detector):
    leaves = {
        name: CascadeSource({**F64, "seed": k}, detector, name)
        for k, name in enumerate(("ca", "cb", "cc"))
    }
    noise = NoiseSource({"initial_scale": 1.7}, detector)
    deepest = IndependentMultiSource(
        {"sources": {"a": "ca", "b": "ca", "c": "cb"}},
        detector,
        "deepest",
        bases={"ca": leaves["ca"], "cb": leaves["cb"]},
    )
    middle = IndependentMultiSource({}, detector, "middle", bases={"deep": deepest, "noise": noise})
    top = IndependentMultiSource(
        {"sources": {"m1": "middle", "m2": "middle", "solo": "cc"}},
        detector,
        "top",
        bases={"middle": middle, "cc": leaves["cc"]},
    )
    assert top.parameter_names[0] == "m1_deep_a_x"
    assert top.parameter_names[21] == "m2_deep_a_x"
    assert top.parameter_names[-1] == "solo_time" and top.num_parameters == 7 * 7
    rng = np.random.default_rng(7)
    batch = make_batch(detector, 3, seed=4)
    params = np.concatenate([cascade_params(rng, 3, detector) for _ in range(7)], axis=1)
    result = top(params, batch)

    def chunk(i):
        return params[:, 7 * i : 7 * i + 7]

    leaf = [
        leaves["ca"](chunk(0), batch),
        leaves["ca"](chunk(1), batch),
        leaves["cb"](chunk(2), batch),
        noise(params[:, :0], batch),
        leaves["ca"](chunk(3), batch),
        leaves["ca"](chunk(4), batch),
        leaves["cb"](chunk(5), batch),
        noise(params[:, :0], batch),
        leaves["cc"](chunk(6), batch),
    ]
    assert_results_close(result, mix(batch, leaf))
    # nested dictionaries at every level
    m2 = result["nested_results"]["m2"]
    assert_results_close(m2, mix(batch, leaf[4:8]))
    assert_results_close(m2["nested_results"]["deep"], mix(batch, leaf[4:7]))
    np.testing.assert_allclose(
        m2["nested_results"]["deep"]["nested_results"]["c"]["pulse_pdf"],
        leaf[6]["pulse_pdf"],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        m2["nested_results"]["deep"]["component_dom_charges"]["b"],
        leaf[5]["dom_charges"],
        rtol=1e-12,
    )


def test_gradient_through_multi_source_matches_finite_differences(detector):
    model = IndependentMultiSource(
        {"sources": {"c0": "cascade", "c1": "cascade", "noise": "noise"}},
        detector,
        bases={"cascade": CascadeSource(F64, detector), "noise": NoiseSource({}, detector)},
    )
    rng = np.random.default_rng(11)
    batch = batch_to_tensors(make_batch(detector, 1, seed=6), tf.float64)
    params = np.concatenate([cascade_params(rng, 1, detector) for _ in range(2)], 1)

    def objective(p):
        r = model(p, batch)
        return (
            tf.reduce_sum(tf.math.log(r["pulse_pdf"]))
            + tf.reduce_sum(tf.math.log(r["dom_charges"][:, :50]))
            + tf.reduce_sum(r["dom_cdf_exclusion"])
        )

    p = tf.Variable(params)
    with tf.GradientTape() as tape:
        value = objective(p)
    grad = tape.gradient(value, p).numpy()[0]
    for i in (0, 2, 3, 5, 6, 8, 11, 13):
        step = 1e-6 * max(1.0, abs(params[0, i]))
        up, down = params.copy(), params.copy()
        up[0, i] += step
        down[0, i] -= step
        fd = (objective(up).numpy() - objective(down).numpy()) / (2 * step)
        assert grad[i] == pytest.approx(fd, rel=2e-5, abs=1e-7), model.parameter_names[i]


def test_config_errors(detector):
    noise = NoiseSource({}, detector)
    with pytest.raises(SourceConfigError, match=r"model\.config\.sources\.a: base 'cascade'"):
        IndependentMultiSource({"sources": {"a": "cascade"}}, detector, bases={"noise": noise})
    with pytest.raises(SourceConfigError, match="used by no source"):
        IndependentMultiSource(
            {"sources": {"a": "noise"}},
            detector,
            bases={"noise": noise, "other": NoiseSource({}, detector)},
        )
    with pytest.raises(SourceConfigError, match="at least one base"):
        IndependentMultiSource({}, detector, bases={})
    with pytest.raises(SourceConfigError, match=r"unknown key\(s\) \['source'\]"):
        IndependentMultiSource({"source": {}}, detector, bases={"noise": noise})
