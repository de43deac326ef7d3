"""Likelihood terms: ``term(batch, results, **options) -> [B]`` float64 negative log-likelihood.

``batch`` is the tensor dictionary of an EventBatch and ``results`` the source result dictionary,
both as in resources/docs/internals.md. With ``f`` the clipped exclusion fraction
(:func:`~.exclusions.exclusion_fraction`) and only DOMs with ``dom_valid`` (and their pulses):

=================================  ===========================================================
``unbinned_pulse_time_llh``        ``-sum_pulses charge * log(pulse_pdf / (1 - f))``
``negative_binomial_charge_pdf``   ``-sum_DOMs log NB(dom_charge; mu (1 - f), alpha)``
``dom_charge_pdf``                 the same (alias)
``poisson_charge_pdf``             ``-sum_DOMs log Poisson(dom_charge; mu (1 - f))``
``total_charge_pdf``               ``-log Poisson(sum dom_charge; sum mu (1 - f))``
``total_charge_negative_binomial_pdf``  NB of the total with the summed variance
=================================  ===========================================================

``mu = dom_charges``; ``alpha = (dom_charges_variance - mu) / mu^2`` (clipped at 0) is taken
from the source's un-excluded values and kept when the mean is scaled by ``1 - f`` (the observed
variance is ``mu (1 - f) + alpha (mu (1 - f))^2``). Charges are continuous counts (lgamma).

Options (keyword-only, from ``loss_module_settings[i].config``):

``float_precision`` ("float64" default or "float32")
    dtype in which the term is evaluated and summed; the result is always float64.
``add_normalization_term`` (default True)
    Include the ``-lgamma(k + 1)`` terms of the count distributions so that the values are true
    log-probabilities. Without them the terms differ by a data-only constant (no effect on fits
    or gradients). The time term has no such constant.

Pulse densities are floored at :data:`PDF_FLOOR` [1/ns] before the log (a pulse where the model
predicts exactly zero density costs ``-charge * log(1e-30) = 69 charge`` instead of infinity).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import tensorflow as tf

from ..model.distributions.negative_binomial import MEAN_FLOOR, negative_binomial_log_prob
from ..model.distributions.poisson import poisson_log_prob
from .errors import LossConfigError
from .exclusions import exclusion_fraction, pulse_valid_mask, require_keys

#: Smallest pulse density [1/ns] used in the log of the time term.
PDF_FLOOR = 1e-30

FLOAT_PRECISIONS = {"float32": tf.float32, "float64": tf.float64}

Term = Callable[..., tf.Tensor]


def precision_dtype(float_precision: str) -> tf.DType:
    """The dtype of a ``float_precision`` setting ("float32" or "float64")."""
    try:
        return FLOAT_PRECISIONS[float_precision]
    except (KeyError, TypeError):
        raise LossConfigError(
            f"float_precision: {float_precision!r} is not one of {sorted(FLOAT_PRECISIONS)}"
        ) from None


def _num_events(batch: Mapping[str, tf.Tensor]) -> tf.Tensor:
    return tf.shape(batch["dom_charge"])[0]


def unbinned_pulse_time_llh(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Charge-weighted unbinned time likelihood of the pulses, per event [B] (float64).

    ``-sum_pulses charge * log(pulse_pdf / (1 - f))`` over the pulses of valid DOMs, the density
    renormalised once per DOM to the part of the readout window that is not excluded.
    ``add_normalization_term`` has no effect (the density has no data-only constant).
    """
    del add_normalization_term
    dtype = precision_dtype(float_precision)
    require_keys(batch, ("pulse_charge_pe", "pulse_event", "pulse_dom", "dom_charge"), "batch")
    require_keys(results, ("pulse_pdf",), "results")
    valid = pulse_valid_mask(batch)
    event = tf.cast(batch["pulse_event"], tf.int32)
    index = tf.stack([event, tf.cast(batch["pulse_dom"], tf.int32)], axis=1)
    fraction = tf.gather_nd(exclusion_fraction(batch, results, dtype), index)
    pdf = tf.maximum(tf.cast(results["pulse_pdf"], dtype), PDF_FLOOR)
    charge = tf.cast(batch["pulse_charge_pe"], dtype)
    log_density = tf.math.log(pdf) - tf.math.log1p(-fraction)
    contribution = tf.where(valid, charge * log_density, tf.zeros_like(log_density))
    total = tf.math.unsorted_segment_sum(contribution, event, _num_events(batch))
    return -tf.cast(total, tf.float64)


def _dom_charge_inputs(batch, results, dtype):
    """(observed k, expected mu (1 - f), alpha, valid) per event and DOM, in ``dtype``."""
    require_keys(batch, ("dom_charge", "dom_valid"), "batch")
    require_keys(results, ("dom_charges", "dom_charges_variance"), "results")
    fraction = exclusion_fraction(batch, results, dtype)
    mean = tf.cast(results["dom_charges"], dtype)
    variance = tf.cast(results["dom_charges_variance"], dtype)
    alpha = tf.maximum(variance - mean, 0.0) / tf.square(tf.maximum(mean, MEAN_FLOOR))
    observed_mean = mean * (1.0 - fraction)
    charge = tf.cast(batch["dom_charge"], dtype)
    valid = tf.cast(batch["dom_valid"], tf.bool)
    return charge, observed_mean, alpha, valid


def _masked_event_sum(values, valid):
    return tf.reduce_sum(tf.where(valid, values, tf.zeros_like(values)), axis=-1)


def _charge_nll(log_prob, charge, add_normalization_term: bool, valid=None) -> tf.Tensor:
    """``-log_prob`` in float64, summed over valid DOMs when ``valid`` is given [B].

    Without the normalisation term, ``lgamma(k + 1)`` (constant in the hypothesis) is added
    back to the log-probability.
    """
    if not add_normalization_term:
        log_prob = log_prob + tf.math.lgamma(tf.maximum(charge, 0.0) + 1.0)
    if valid is not None:
        log_prob = _masked_event_sum(log_prob, valid)
    return -tf.cast(log_prob, tf.float64)


def negative_binomial_charge_pdf(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Per-DOM negative binomial charge likelihood, summed over valid DOMs, per event [B]."""
    dtype = precision_dtype(float_precision)
    charge, mean, alpha, valid = _dom_charge_inputs(batch, results, dtype)
    return _charge_nll(
        negative_binomial_log_prob(charge, mean, alpha), charge, add_normalization_term, valid
    )


def dom_charge_pdf(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Alias of :func:`negative_binomial_charge_pdf` (the per-DOM charge term)."""
    return negative_binomial_charge_pdf(
        batch,
        results,
        float_precision=float_precision,
        add_normalization_term=add_normalization_term,
    )


def poisson_charge_pdf(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Per-DOM Poisson charge likelihood, summed over valid DOMs, per event [B]."""
    dtype = precision_dtype(float_precision)
    charge, mean, _, valid = _dom_charge_inputs(batch, results, dtype)
    return _charge_nll(poisson_log_prob(charge, mean), charge, add_normalization_term, valid)


def _event_totals(batch, results, dtype):
    charge, mean, alpha, valid = _dom_charge_inputs(batch, results, dtype)
    variance = mean + alpha * tf.square(mean)
    total_charge = _masked_event_sum(charge, valid)
    total_mean = _masked_event_sum(mean, valid)
    total_variance = _masked_event_sum(variance, valid)
    return total_charge, total_mean, total_variance


def total_charge_pdf(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Poisson likelihood of the event's total valid charge given the summed expectation [B]."""
    dtype = precision_dtype(float_precision)
    total_charge, total_mean, _ = _event_totals(batch, results, dtype)
    return _charge_nll(
        poisson_log_prob(total_charge, total_mean), total_charge, add_normalization_term
    )


def total_charge_negative_binomial_pdf(
    batch: Mapping[str, tf.Tensor],
    results: Mapping[str, tf.Tensor],
    *,
    float_precision: str = "float64",
    add_normalization_term: bool = True,
) -> tf.Tensor:
    """Negative binomial likelihood of the event's total valid charge [B].

    Mean and variance are the sums over valid DOMs of ``mu (1 - f)`` and
    ``mu (1 - f) + alpha (mu (1 - f))^2``; equals :func:`total_charge_pdf` when every DOM is
    Poisson (variance = mean).
    """
    dtype = precision_dtype(float_precision)
    total_charge, total_mean, total_variance = _event_totals(batch, results, dtype)
    alpha = tf.maximum(total_variance - total_mean, 0.0) / tf.square(
        tf.maximum(total_mean, MEAN_FLOOR)
    )
    return _charge_nll(
        negative_binomial_log_prob(total_charge, total_mean, alpha),
        total_charge,
        add_normalization_term,
    )


#: Term name (``loss_function_name`` in configs) -> function.
TERMS: dict[str, Term] = {
    "unbinned_pulse_time_llh": unbinned_pulse_time_llh,
    "negative_binomial_charge_pdf": negative_binomial_charge_pdf,
    "dom_charge_pdf": dom_charge_pdf,
    "poisson_charge_pdf": poisson_charge_pdf,
    "total_charge_pdf": total_charge_pdf,
    "total_charge_negative_binomial_pdf": total_charge_negative_binomial_pdf,
}
