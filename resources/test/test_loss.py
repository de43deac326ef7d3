"""Likelihood terms and loss modules (egenerator.loss) against brute-force numpy/scipy references
computed event by event, DOM by DOM and pulse by pulse."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from egenerator.data.batch import EventBatch
from egenerator.data.tensors import batch_to_tensors, tensor_signature
from egenerator.loss import (
    TERMS,
    LossConfigError,
    LossInputError,
    LossModule,
    MultiLossModule,
    exclusion_fraction,
    pulse_valid_mask,
)
from scipy import special, stats

NUM_DOMS = 6
# pulses per event (event 2 has none); events differ in pulse counts
PULSES_PER_EVENT = (9, 4, 0, 15)


def _make_batch(seed: int = 3, integer_charges: bool = True) -> EventBatch:
    rng = np.random.default_rng(seed)
    num_events = len(PULSES_PER_EVENT)
    events, doms = [], []
    for event, num in enumerate(PULSES_PER_EVENT):
        events += [event] * num
        doms += list(rng.integers(0, NUM_DOMS, num))
    event = np.array(events, dtype=np.int64)
    dom = np.array(doms, dtype=np.int64)
    order = np.lexsort((dom, event))
    event, dom = event[order], dom[order]
    num = len(event)
    charge = rng.integers(1, 4, num).astype(float) if integer_charges else rng.uniform(0.3, 3, num)
    time = rng.uniform(0.0, 1000.0, num)
    dom_charge = np.zeros((num_events, NUM_DOMS))
    np.add.at(dom_charge, (event, dom), charge)
    dom_valid = np.ones((num_events, NUM_DOMS), dtype=bool)
    dom_valid[0, dom[event == 0][0]] = False  # an excluded DOM that has pulses
    dom_valid[1, :2] = False
    dom_valid[3, 5] = False
    return EventBatch(
        parameters=np.zeros((num_events, 7)),
        pulse_charge_pe=charge,
        pulse_time_ns=time,
        pulse_event=event,
        pulse_dom=dom,
        dom_charge=dom_charge,
        dom_valid=dom_valid,
        time_window_ns=np.tile([0.0, 1000.0], (num_events, 1)),
        window_exclusions_ns=np.zeros((0, 2)),
        window_event=np.zeros(0, dtype=np.int64),
        window_dom=np.zeros(0, dtype=np.int64),
        event_id=np.zeros((num_events, 4), dtype=np.int64),
        weights=np.ones(num_events),
    )


def _make_results(batch: EventBatch, seed: int = 5, exclusion: bool = True) -> dict:
    """Random but valid source results (what a source would return)."""
    rng = np.random.default_rng(seed)
    shape = (batch.num_events, NUM_DOMS)
    mean = rng.uniform(0.05, 8.0, shape)
    alpha = rng.uniform(0.0, 0.5, shape)
    alpha[:, 0] = 0.0  # Poisson DOMs
    fraction = np.zeros(shape)
    if exclusion:
        fraction[0, 3] = 0.25
        fraction[3, 1] = 0.6
        fraction[1, 4] = 1.0  # fully excluded window: clipped
    return {
        "dom_charges": tf.constant(mean),
        "dom_charges_variance": tf.constant(mean + alpha * mean**2),
        "pulse_pdf": tf.constant(rng.uniform(1e-4, 5e-3, batch.num_pulses)),
        "pulse_cdf": tf.constant(rng.uniform(0.0, 1.0, batch.num_pulses)),
        "dom_cdf_exclusion": tf.constant(fraction),
    }


def _np(results: dict) -> dict:
    return {key: np.asarray(value) for key, value in results.items()}


# ---------------------------------------------------------------------- brute-force reference
def _reference(batch: EventBatch, results: dict, add_normalization_term: bool = True) -> dict:
    res = _np(results)
    mean, var = res["dom_charges"], res["dom_charges_variance"]
    f = np.clip(res["dom_cdf_exclusion"], 0.0, 1.0 - 1e-6)
    out = {name: np.zeros(batch.num_events) for name in TERMS}
    for b in range(batch.num_events):
        for n in range(batch.num_pulses):
            d = batch.pulse_dom[n]
            if batch.pulse_event[n] == b and batch.dom_valid[b, d]:
                density = res["pulse_pdf"][n] / (1.0 - f[b, d])
                out["unbinned_pulse_time_llh"][b] -= batch.pulse_charge_pe[n] * np.log(density)
        total_k = total_mu = total_var = 0.0
        for d in range(NUM_DOMS):
            if not batch.dom_valid[b, d]:
                continue
            k = batch.dom_charge[b, d]
            alpha = (var[b, d] - mean[b, d]) / mean[b, d] ** 2
            mu = mean[b, d] * (1.0 - f[b, d])
            norm = 0.0 if add_normalization_term else special.gammaln(k + 1)
            if alpha > 1e-12:
                nb = stats.nbinom.logpmf(k, 1.0 / alpha, 1.0 / (1.0 + alpha * mu))
            else:
                nb = stats.poisson.logpmf(k, mu)
            out["negative_binomial_charge_pdf"][b] -= nb + norm
            out["poisson_charge_pdf"][b] -= stats.poisson.logpmf(k, mu) + norm
            total_k, total_mu, total_var = (
                total_k + k,
                total_mu + mu,
                total_var + mu + alpha * mu**2,
            )
        norm = 0.0 if add_normalization_term else special.gammaln(total_k + 1)
        out["total_charge_pdf"][b] = -stats.poisson.logpmf(total_k, total_mu) - norm
        alpha = (total_var - total_mu) / total_mu**2
        out["total_charge_negative_binomial_pdf"][b] = (
            -stats.nbinom.logpmf(total_k, 1.0 / alpha, 1.0 / (1.0 + alpha * total_mu)) - norm
        )
    out["dom_charge_pdf"] = out["negative_binomial_charge_pdf"]
    return out


@pytest.fixture(scope="module")
def batch() -> EventBatch:
    return _make_batch()


@pytest.fixture(scope="module")
def tensors(batch) -> dict:
    return batch_to_tensors(batch)


@pytest.mark.parametrize("add_normalization_term", [True, False])
def test_terms_match_brute_force(batch, tensors, add_normalization_term):
    results = _make_results(batch)
    reference = _reference(batch, results, add_normalization_term)
    for name, term in TERMS.items():
        value = term(tensors, results, add_normalization_term=add_normalization_term)
        assert value.dtype == tf.float64 and value.shape == (batch.num_events,), name
        np.testing.assert_allclose(
            value.numpy(), reference[name], rtol=1e-10, atol=1e-10, err_msg=name
        )
    # event 2 has no pulses: its time term is 0, its charge terms only the expectations
    time = TERMS["unbinned_pulse_time_llh"](tensors, results).numpy()
    assert time[2] == 0.0


def test_float32_precision_close_to_float64(batch, tensors):
    results = _make_results(batch)
    for name, term in TERMS.items():
        double = term(tensors, results).numpy()
        single = term(tensors, results, float_precision="float32")
        assert single.dtype == tf.float64
        np.testing.assert_allclose(single.numpy(), double, rtol=2e-5, atol=1e-4, err_msg=name)


def test_non_integer_charges_continuous_via_lgamma():
    batch = _make_batch(seed=11, integer_charges=False)
    tensors = batch_to_tensors(batch)
    results = _make_results(batch, exclusion=False)
    res = _np(results)
    mean, var = res["dom_charges"], res["dom_charges_variance"]
    alpha = (var - mean) / mean**2
    k = batch.dom_charge
    with np.errstate(divide="ignore", invalid="ignore"):
        n = 1.0 / alpha
        p = 1.0 / (1.0 + alpha * mean)
        nb = (
            special.gammaln(k + n)
            - special.gammaln(n)
            - special.gammaln(k + 1)
            + k * np.log1p(-p)
            + n * np.log(p)
        )
    poisson = k * np.log(mean) - mean - special.gammaln(k + 1)
    nb = np.where(alpha > 0, nb, poisson)
    expected_nb = -np.sum(np.where(batch.dom_valid, nb, 0.0), axis=1)
    expected_poisson = -np.sum(np.where(batch.dom_valid, poisson, 0.0), axis=1)
    got_nb = TERMS["negative_binomial_charge_pdf"](tensors, results).numpy()
    got_poisson = TERMS["poisson_charge_pdf"](tensors, results).numpy()
    np.testing.assert_allclose(got_nb, expected_nb, rtol=1e-10)
    np.testing.assert_allclose(got_poisson, expected_poisson, rtol=1e-10)


def test_excluded_dom_drops_out(batch, tensors):
    results = _make_results(batch, exclusion=False)
    b, d = 3, int(batch.pulse_dom[batch.pulse_event == 3][0])
    assert batch.dom_valid[b, d]
    valid = batch.dom_valid.copy()
    valid[b, d] = False
    excluded = dict(tensors, dom_valid=tf.constant(valid))
    res = _np(results)
    on_dom = (batch.pulse_event == b) & (batch.pulse_dom == d)
    pulse_part = -np.sum(batch.pulse_charge_pe[on_dom] * np.log(res["pulse_pdf"][on_dom]))
    charge_part = -stats.poisson.logpmf(batch.dom_charge[b, d], res["dom_charges"][b, d])
    before = TERMS["unbinned_pulse_time_llh"](tensors, results).numpy()
    after = TERMS["unbinned_pulse_time_llh"](excluded, results).numpy()
    np.testing.assert_allclose(before - after, np.eye(4)[b] * pulse_part, atol=1e-10)
    before = TERMS["poisson_charge_pdf"](tensors, results).numpy()
    after = TERMS["poisson_charge_pdf"](excluded, results).numpy()
    np.testing.assert_allclose(before - after, np.eye(4)[b] * charge_part, atol=1e-10)
    # the pulse mask agrees
    mask = pulse_valid_mask(excluded).numpy()
    np.testing.assert_array_equal(mask, valid[batch.pulse_event, batch.pulse_dom])


def test_window_exclusion_renormalises_once_per_dom(batch, tensors):
    results = _make_results(batch, exclusion=False)
    b = 3
    d = next(int(d) for d in batch.pulse_dom[batch.pulse_event == b] if batch.dom_valid[b, d])
    f = 0.4
    fraction = np.zeros((batch.num_events, NUM_DOMS))
    fraction[b, d] = f
    excluded = dict(results, dom_cdf_exclusion=tf.constant(fraction))
    on_dom = (batch.pulse_event == b) & (batch.pulse_dom == d)
    before = TERMS["unbinned_pulse_time_llh"](tensors, results).numpy()
    after = TERMS["unbinned_pulse_time_llh"](tensors, excluded).numpy()
    # log(pdf / (1 - f)) = log pdf - log(1 - f) for each pulse (charge-weighted)
    expected = np.sum(batch.pulse_charge_pe[on_dom]) * np.log(1.0 - f)
    np.testing.assert_allclose(after - before, np.eye(4)[b] * expected, atol=1e-10)
    # the charge expectation is scaled by 1 - f
    mu = np.asarray(results["dom_charges"])[b, d]
    k = batch.dom_charge[b, d]
    delta = stats.poisson.logpmf(k, mu) - stats.poisson.logpmf(k, mu * (1 - f))
    before = TERMS["poisson_charge_pdf"](tensors, results).numpy()
    after = TERMS["poisson_charge_pdf"](tensors, excluded).numpy()
    np.testing.assert_allclose(after - before, np.eye(4)[b] * delta, atol=1e-10)
    clipped = exclusion_fraction(
        tensors, dict(results, dom_cdf_exclusion=tf.ones([4, 6], tf.float64))
    )
    np.testing.assert_allclose(clipped.numpy(), 1.0 - 1e-6)


def test_total_charge_nb_equals_poisson_without_overdispersion(batch, tensors):
    results = _make_results(batch)
    poissonian = dict(results, dom_charges_variance=results["dom_charges"])
    np.testing.assert_allclose(
        TERMS["total_charge_negative_binomial_pdf"](tensors, poissonian).numpy(),
        TERMS["total_charge_pdf"](tensors, poissonian).numpy(),
        rtol=1e-12,
    )


def test_gradients_finite_and_match_finite_differences(batch, tensors):
    results = _make_results(batch)
    # a DOM without expectation (zero mean) on an excluded DOM and on a valid DOM without charge
    mean = np.asarray(results["dom_charges"]).copy()
    variance = np.asarray(results["dom_charges_variance"]).copy()
    empty = np.argwhere(batch.dom_charge[2] == 0)[0, 0]
    for index in [(1, 0), (2, empty)]:
        mean[index] = variance[index] = 0.0
    results = dict(
        results, dom_charges=tf.constant(mean), dom_charges_variance=tf.constant(variance)
    )
    module = MultiLossModule.from_settings(
        [
            {
                "config": {
                    "loss_function_name": [
                        "unbinned_pulse_time_llh",
                        "negative_binomial_charge_pdf",
                    ]
                }
            },
            {"loss_module_weight": 0.5, "config": {"loss_function_name": "total_charge_pdf"}},
        ]
    )
    variables = {k: tf.Variable(v) for k, v in results.items()}

    def loss(res):
        total, _ = module(tensors, res)
        return tf.reduce_sum(total)

    with tf.GradientTape() as tape:
        value = loss(variables)
    grads = tape.gradient(value, variables)
    for key in ("dom_charges", "dom_charges_variance", "pulse_pdf", "dom_cdf_exclusion"):
        assert np.all(np.isfinite(grads[key].numpy())), key
    # finite differences on a few entries
    base = {k: np.asarray(v) for k, v in results.items()}
    for key, index in [
        ("dom_charges", (0, 2)),
        ("dom_charges_variance", (3, 3)),
        ("pulse_pdf", (4,)),
        ("dom_cdf_exclusion", (0, 3)),
    ]:
        h = 1e-6 * max(abs(base[key][index]), 1e-3)
        up, down = base[key].copy(), base[key].copy()
        up[index] += h
        down[index] -= h
        numeric = (
            float(loss({**results, key: tf.constant(up)}))
            - float(loss({**results, key: tf.constant(down)}))
        ) / (2 * h)
        assert float(grads[key][index]) == pytest.approx(numeric, rel=1e-5, abs=1e-6), key


# ---------------------------------------------------------------------- loss modules
def test_multi_loss_module_weights_and_terms(batch, tensors):
    results = _make_results(batch)
    reference = _reference(batch, results)
    settings = [
        {
            "loss_module": "egenerator.loss.default.DefaultLossModule",
            "loss_module_weight": 2.0,
            "config": {
                "float_precision": "float64",
                "add_normalization_term": True,
                "loss_function_name": ["unbinned_pulse_time_llh", "poisson_charge_pdf"],
            },
        },
        {
            "loss_module": "DefaultLossModule",
            "loss_module_weight": 0.25,
            "config": {"loss_function_name": ["total_charge_pdf", "poisson_charge_pdf"]},
        },
    ]
    module = MultiLossModule.from_settings(settings)
    total, terms = module(tensors, results)
    expected = 2.0 * (reference["unbinned_pulse_time_llh"] + reference["poisson_charge_pdf"])
    expected += 0.25 * (reference["total_charge_pdf"] + reference["poisson_charge_pdf"])
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-12)
    assert (
        list(terms)
        == module.term_names
        == [
            "unbinned_pulse_time_llh",
            "poisson_charge_pdf[0]",
            "total_charge_pdf",
            "poisson_charge_pdf[1]",
        ]
    )
    np.testing.assert_allclose(terms["total_charge_pdf"].numpy(), reference["total_charge_pdf"])
    # a single LossModule with the schema defaults; a single string name is accepted
    single = LossModule({"loss_function_name": "dom_charge_pdf"})
    total, terms = single(tensors, results)
    np.testing.assert_allclose(total.numpy(), reference["negative_binomial_charge_pdf"])
    default = MultiLossModule.from_settings(None)
    assert default.term_names == ["unbinned_pulse_time_llh", "negative_binomial_charge_pdf"]
    # traced once for batches with different pulse counts
    signature = tensor_signature(NUM_DOMS, 7, tf.float64)
    result_spec = {k: tf.TensorSpec([None] * len(v.shape), tf.float64) for k, v in results.items()}
    traced = tf.function(lambda b, r: module(b, r)[0], input_signature=[signature, result_spec])
    other = _make_batch(seed=9)
    for candidate in (batch, other):
        b_tensors = batch_to_tensors(candidate, tf.float64)
        res = _make_results(candidate)
        np.testing.assert_allclose(traced(b_tensors, res).numpy(), module(b_tensors, res)[0])
    assert traced.experimental_get_tracing_count() == 1


def test_loss_config_errors_name_key_path_value_and_valid_names():
    with pytest.raises(LossConfigError) as error:
        MultiLossModule.from_settings(
            [{}, {"config": {"loss_function_name": ["unbinned_pulse_time_llh", "chi2_llh"]}}]
        )
    message = str(error.value)
    assert "loss_module_settings[1].config.loss_function_name" in message
    assert "'chi2_llh'" in message and "negative_binomial_charge_pdf" in message
    assert isinstance(error.value, ValueError)
    with pytest.raises(LossConfigError, match=r"loss_module_settings\[0\].loss_module.*Nope"):
        MultiLossModule.from_settings([{"loss_module": "egenerator.loss.Nope"}])
    with pytest.raises(LossConfigError, match=r"\[0\].config.float_precision.*float16"):
        MultiLossModule.from_settings([{"config": {"float_precision": "float16"}}])
    with pytest.raises(LossConfigError, match=r"\[0\].config: unknown key.*'typo'"):
        MultiLossModule.from_settings([{"config": {"typo": 1}}])
    with pytest.raises(LossConfigError, match=r"\[0\].loss_module_weight"):
        MultiLossModule.from_settings([{"loss_module_weight": "heavy"}])
    with pytest.raises(LossConfigError, match="twice"):
        LossModule({"loss_function_name": ["total_charge_pdf", "total_charge_pdf"]})


def test_missing_result_key_is_a_clear_error(batch, tensors):
    results = _make_results(batch)
    del results["dom_cdf_exclusion"]
    with pytest.raises(LossInputError, match="dom_cdf_exclusion"):
        TERMS["poisson_charge_pdf"](tensors, results)
