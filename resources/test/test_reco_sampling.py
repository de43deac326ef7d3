"""Pseudo-event sampling from a Source's distributions and the goodness-of-fit p-values.

The source here is a small analytic one written in this file (negative-binomial counts,
truncated exponential arrival times with a closed-form CDF), so the sampler is checked against
exact distributions: count means and variances, a Kolmogorov-Smirnov test of the times, and the
thinning of photoelectrons inside exclusion windows.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
from egenerator.data.batch import EventBatch
from egenerator.reco.goodness_of_fit import pvalues
from egenerator.reco.sampling import SourceSampler

D = 4
WEIGHTS = np.array([2.0, 5.0, 0.5, 8.0])
RATES_PER_NS = np.array([0.01, 0.003, 0.02, 0.005])
ALPHA = 0.05
WINDOW = (0.0, 1000.0)


class ExponentialSource:
    """Analytic source: mean a * w_d, NB variance, exponential times from the window start."""

    parameter_names = ("a",)
    num_doms = D

    def __call__(self, parameters, tensors):
        a = tf.cast(parameters[:, 0:1], tf.float64)
        mean = a * tf.constant(WEIGHTS)[None, :]
        window = tensors["time_window_ns"]
        length = window[:, 1] - window[:, 0]
        rate = tf.constant(RATES_PER_NS)
        event, dom = tensors["pulse_event"], tensors["pulse_dom"]
        t = tensors["pulse_time_ns"] - tf.gather(window[:, 0], event)
        r = tf.gather(rate, dom)
        norm = 1.0 - tf.exp(-r * tf.gather(length, event))
        return {
            "dom_charges": mean,
            "dom_charges_variance": mean + ALPHA * mean * mean,
            "pulse_pdf": r * tf.exp(-r * t) / norm,
            "pulse_cdf": (1.0 - tf.exp(-r * t)) / norm,
            "dom_cdf_exclusion": tf.zeros_like(mean),
        }


def exact_cdf(t, dom):
    r = RATES_PER_NS[dom]
    return (1.0 - np.exp(-r * (t - WINDOW[0]))) / (1.0 - np.exp(-r * (WINDOW[1] - WINDOW[0])))


def template(num_events: int, exclusion: tuple[float, float] | None) -> EventBatch:
    windows = np.array([exclusion]) if exclusion else np.zeros((0, 2))
    return EventBatch(
        parameters=np.zeros((num_events, 1)),
        pulse_charge_pe=np.zeros(0),
        pulse_time_ns=np.zeros(0),
        pulse_event=np.zeros(0, np.int64),
        pulse_dom=np.zeros(0, np.int64),
        dom_charge=np.zeros((num_events, D)),
        dom_valid=np.ones((num_events, D), bool),
        time_window_ns=np.tile(WINDOW, (num_events, 1)),
        window_exclusions_ns=windows,
        window_event=np.zeros(len(windows), np.int64),
        window_dom=np.zeros(len(windows), np.int64),
        event_id=np.zeros((num_events, 4), np.int64),
        weights=np.ones(num_events),
    )


@pytest.fixture(scope="module")
def sampled():
    sampler = SourceSampler(ExponentialSource(), num_doms=D)
    batch = template(1, None)
    k = 3000
    pseudo, owner = sampler(batch, np.array([[3.0]]), k, seed=5)
    return pseudo, owner, k


def test_counts_follow_the_negative_binomial(sampled):
    pseudo, owner, k = sampled
    assert pseudo.num_events == k and np.all(owner == 0)
    counts = pseudo.dom_charge  # [K, D], charge 1 PE per photoelectron
    mean = 3.0 * WEIGHTS
    var = mean + ALPHA * mean**2
    z = (counts.mean(axis=0) - mean) / np.sqrt(var / k)
    assert np.all(np.abs(z) < 4), z
    ratio = counts.var(axis=0) / var
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_times_follow_the_source_cdf(sampled):
    pseudo, _, _ = sampled
    assert np.all(np.diff(pseudo.pulse_event) >= 0)
    for dom in range(D):
        t = pseudo.pulse_time_ns[pseudo.pulse_dom == dom]
        assert t.size > 100
        result = scipy.stats.kstest(t, lambda x, d=dom: exact_cdf(x, d))
        assert result.pvalue > 1e-3, (dom, result)


def test_exclusion_windows_thin_the_photoelectrons():
    sampler = SourceSampler(ExponentialSource(), num_doms=D)
    excl = (100.0, 400.0)
    pseudo, _ = sampler(template(1, excl), np.array([[3.0]]), 3000, seed=9)
    t = pseudo.pulse_time_ns[pseudo.pulse_dom == 0]
    assert not np.any((t >= excl[0]) & (t < excl[1]))
    kept = 1.0 - (exact_cdf(excl[1], 0) - exact_cdf(excl[0], 0))
    mean = 3.0 * WEIGHTS[0] * kept
    var = mean + ALPHA * (3.0 * WEIGHTS[0]) ** 2 * kept**2
    z = (pseudo.dom_charge[:, 0].mean() - mean) / np.sqrt(var / 3000)
    assert abs(z) < 4


def test_pvalues_add_one_estimator():
    pseudo = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, np.nan, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    observed = np.array([2.5, 0.5, np.nan])
    p = pvalues(observed, pseudo)
    np.testing.assert_allclose(p[:2], [(1 + 2) / 5, (1 + 3) / 4])
    assert np.isnan(p[2])
