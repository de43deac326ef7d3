"""Goodness of fit: where the observed best-fit loss falls among pseudo-experiments.

For every event, ``K`` pseudo-events are sampled from its best-fit hypothesis (a sampler of
:mod:`egenerator.reco.sampling`), each is refitted with the same engine (seeded at that
hypothesis), and the p-value is the fraction of pseudo-events that fit at least as badly:

    p = (1 + #{loss_reco(pseudo) >= loss_reco(observed)}) / (K + 1)

(the add-one estimator: never 0, exact in distribution for continuous losses when the
hypothesis is true). Small p flags events the hypothesis describes badly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..data.batch import EventBatch
from .reconstructor import FitResult, Reconstructor


@dataclass
class GoodnessOfFit:
    """Per event: ``pvalue`` [B] (NaN where not fitted), ``pseudo_losses`` [B, K], runtime."""

    pvalue: np.ndarray
    pseudo_losses: np.ndarray
    runtime_s: float


def pvalues(observed: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
    """Add-one p-values of ``observed`` [B] against ``pseudo`` [B, K] (NaN pseudo ignored)."""
    observed = np.asarray(observed, dtype=np.float64)
    pseudo = np.asarray(pseudo, dtype=np.float64)
    valid = np.isfinite(pseudo)
    worse = np.sum(valid & (pseudo >= observed[:, None]), axis=1)
    count = np.sum(valid, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (1.0 + worse) / (1.0 + count)
    return np.where(np.isfinite(observed) & (count > 0), p, np.nan)


def goodness_of_fit(
    reconstructor: Reconstructor,
    batch: EventBatch,
    fit: FitResult,
    sampler,
    num_pseudo_events: int,
    seed: int,
) -> GoodnessOfFit:
    """p-values [B] of the best fits ``fit`` of ``batch`` (see the module docstring)."""
    start = time.perf_counter()
    b = batch.num_events
    k = int(num_pseudo_events)
    out = np.full((b, k), np.nan)
    events = np.flatnonzero(np.all(np.isfinite(fit.parameters), axis=1))
    if events.size:
        sub = batch.select(events)
        hypotheses = fit.parameters[events]
        pseudo, owner = sampler(sub, hypotheses, k, seed)
        refit = reconstructor.fit(pseudo, hypotheses[owner])
        out[events] = refit.loss_reco.reshape(events.size, k)
    return GoodnessOfFit(
        pvalue=pvalues(fit.loss_reco, out),
        pseudo_losses=out,
        runtime_s=time.perf_counter() - start,
    )
