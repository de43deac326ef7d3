"""Reconstructor: fit many events with many seeds each, keep the best fit per event.

>>> reco = Reconstructor(source, loss_module, source.parameter_names, settings)
>>> reco.warm_up()                       # trace once, at load time
>>> result = reco.fit(batch, seeds)      # seeds [B, S, P]
>>> cov = reco.covariance(batch, result)  # reuses the minimiser's last Hessians

Events that cannot be fitted (no pulses, every DOM excluded, no finite seed) are flagged in
``fit_status`` and left out of the minimisation; a NaN loss or a failed minimisation flags the
event without stopping the others.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..data.batch import EventBatch
from ..data.tensors import batch_to_tensors, tensor_signature
from .covariance import CovarianceEstimator, CovarianceResult, covariance_from_hessian
from .objective import (
    Objective,
    RowEvaluator,
    graph_optimizer_disabled,
    source_objective,
    source_parameter_dtype,
)
from .parameter_space import ParameterSpace
from .scipy_minimizer import ScipyMinimizer
from .settings import RecoSettings
from .status import FitStatus, precheck_events
from .tensor_rows import sorted_batch, take_rows
from .trust_region import BatchedTrustRegion, MinimizerResult


class ReconstructionError(ValueError):
    """Bad arguments to a fit (shapes of seeds, parameter counts)."""


@dataclass
class FitResult:
    """Best fit per event (numpy arrays over the B events of the batch).

    Attributes
    ----------
    parameters : [B, P]
        Best fit (zenith in [0, pi], azimuth in [0, 2 pi)); NaN for events not fitted.
    loss_reco : [B]
        Loss at the best fit.
    loss_seed : [B]
        Loss at the seed the best fit started from.
    fit_status : [B] int
        :class:`~egenerator.reco.status.FitStatus` codes.
    num_iterations : [B] int
        Iterations of the best fit's minimisation.
    best_seed : [B] int
        Index of the seed that gave the best fit (-1 where nothing was fitted).
    seed_parameters : [B, P]
        That seed.
    all_parameters : [B, S, P], all_losses : [B, S], all_status : [B, S]
        Every seed's fit.
    runtime_s : float
        Wall time of the whole call.
    hessian : [B, P, P]
        Chart Hessian the batched minimiser evaluated last for the best fit (NaN otherwise).
    hessian_current : [B] bool
        Whether that Hessian was taken at the reported best fit (reusable for the covariance).
    """

    parameters: np.ndarray
    loss_reco: np.ndarray
    loss_seed: np.ndarray
    fit_status: np.ndarray
    num_iterations: np.ndarray
    best_seed: np.ndarray
    seed_parameters: np.ndarray
    all_parameters: np.ndarray
    all_losses: np.ndarray
    all_status: np.ndarray
    runtime_s: float
    hessian: np.ndarray | None = None
    hessian_current: np.ndarray | None = None

    @property
    def success(self) -> np.ndarray:
        """[B] bool: ``fit_status == OK``."""
        return self.fit_status == int(FitStatus.OK)

    @property
    def num_events(self) -> int:
        return int(self.parameters.shape[0])


def _num_doms_of(source) -> int | None:
    for attribute in ("num_doms",):
        value = getattr(source, attribute, None)
        if value is not None:
            return int(value)
    detector = getattr(source, "detector", None)
    if detector is not None:
        return int(detector.num_doms)
    return None


class Reconstructor:
    """Fits events with a Source and a loss module (or any per-row objective).

    Parameters
    ----------
    source : Source, optional
        ``source(parameters [B, P], tensors) -> results``.
    loss_module : callable, optional
        ``(tensors, results) -> [B]`` negative log-likelihood.
    parameter_names : sequence of str, optional
        Default: ``source.parameter_names``.
    settings : RecoSettings or mapping (``reconstruction_settings``), optional
    objective : Objective, optional
        Instead of source + loss module: ``objective(parameters [R, P] float64, tensors) -> [R]``.
    num_doms : int, optional
        DOMs of the detector (default: from the source); fixes the traced signature.
    parameter_dtype : tf.DType, optional
        dtype the source gets its parameters in (default: the source's, else float32).
    """

    def __init__(
        self,
        source=None,
        loss_module=None,
        parameter_names: Sequence[str] | None = None,
        settings: RecoSettings | Mapping | None = None,
        *,
        objective: Objective | None = None,
        num_doms: int | None = None,
        parameter_dtype: tf.DType | None = None,
    ) -> None:
        if objective is None:
            if source is None or loss_module is None:
                raise ReconstructionError("Reconstructor needs a source and a loss module")
            objective = source_objective(source, loss_module, parameter_dtype)
        if parameter_names is None:
            if source is None or not hasattr(source, "parameter_names"):
                raise ReconstructionError("Reconstructor needs parameter_names")
            parameter_names = source.parameter_names
        if settings is None:
            settings = RecoSettings()
        elif not isinstance(settings, RecoSettings):
            settings = RecoSettings.from_config(settings)
        self.source = source
        self.loss_module = loss_module
        self.objective = objective
        self.settings = settings
        self.parameter_names = tuple(parameter_names)
        self.space = ParameterSpace.build(
            self.parameter_names,
            scales=settings.scales,
            free=settings.minimize_parameter_dict,
            free_default=settings.minimize_parameter_default_value,
            bounds=settings.parameter_boundaries,
        )
        self.num_doms = num_doms if num_doms is not None else _num_doms_of(source)
        self._engines: dict = {}
        self._evaluator: RowEvaluator | None = None
        self._covariance: CovarianceEstimator | None = None
        self._charge_graph = None

    # ------------------------------------------------------------------ set-up
    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    def _signature(self, num_doms: int) -> dict:
        spec = tensor_signature(num_doms, self.num_parameters, tf.float64)
        spec.pop("parameters")
        return spec

    def _check_doms(self, batch: EventBatch) -> None:
        if self.num_doms is None:
            self.num_doms = batch.num_doms
        if batch.num_doms != self.num_doms:
            raise ReconstructionError(
                f"the batch has {batch.num_doms} DOMs, the reconstructor {self.num_doms}"
            )

    @property
    def evaluator(self) -> RowEvaluator:
        """The one traced loss-and-gradient function every minimiser uses."""
        if self._evaluator is None:
            if self.num_doms is None:
                raise ReconstructionError("num_doms unknown: pass num_doms or fit a batch first")
            self._evaluator = RowEvaluator(
                self.objective,
                self.space,
                self._signature(self.num_doms),
                self.settings.trust_region.max_rows_per_call,
                self.settings.trust_region.max_pulses_per_call,
                self.settings.trust_region.max_dom_rows_per_call,
                self.settings.skip_graph_optimization,
            )
        return self._evaluator

    def minimizer(self, interface: str | None = None):
        """The minimiser of ``interface`` ("batched" or "scipy"; default: the settings')."""
        interface = interface or self.settings.interface
        if interface not in self._engines:
            s = self.settings
            if interface == "batched":
                engine = BatchedTrustRegion(self.evaluator, self.space, s.trust_region)
            elif interface == "scipy":
                engine = ScipyMinimizer(
                    self.evaluator, self.space, s.scipy_method, s.scipy_options, s.scipy_mode
                )
            else:
                raise ReconstructionError(f"unknown optimizer interface {interface!r}")
            self._engines[interface] = engine
        return self._engines[interface]

    def covariance_estimator(self) -> CovarianceEstimator:
        if self._covariance is None:
            self._covariance = CovarianceEstimator(
                self.evaluator, self.space, self.settings.trust_region.hessian_step
            )
        return self._covariance

    def warm_up(self, seed_parameters: np.ndarray | None = None) -> float:
        """Trace and run the graphs once on a one-event synthetic batch; returns seconds.

        With ``skip_graph_optimization`` the graphs are always called with TensorFlow's graph
        optimiser off (:func:`~egenerator.reco.objective.graph_optimizer_disabled`): a shorter
        warm-up for large sources, slower fits.

        Parameters
        ----------
        seed_parameters : [P], optional
            Hypothesis of the synthetic event (default: 1 for every parameter, time 1000 ns,
            energy 1000 GeV).
        """
        if self.num_doms is None:
            raise ReconstructionError("warm_up needs num_doms (pass it or give a source)")
        start = time.perf_counter()
        batch = synthetic_batch(self.num_doms, self.num_parameters)
        hypothesis = np.ones((1, self.num_parameters))
        if seed_parameters is not None:
            hypothesis[0] = np.asarray(seed_parameters, dtype=np.float64)
        else:
            hypothesis[0, self.space.time_mask] = 1000.0
            hypothesis[0, self.space.log_mask] = 1000.0
        self.loss(batch, hypothesis)
        if self.source is not None:
            self.expected_charges(batch, hypothesis[:, None, :])
        return time.perf_counter() - start

    def expected_charges(self, batch: EventBatch, hypotheses: np.ndarray) -> np.ndarray:
        """Expected observed charge [B, K, D] of hypotheses [B, K, P] (source needed; the
        events' exclusion windows apply, their pulses are not used)."""
        if self.source is None:
            raise ReconstructionError("expected_charges needs a source")
        self._check_doms(batch)
        if self._charge_graph is None:
            source = self.source
            dtype = source_parameter_dtype(source)

            def graph(tensors, rows, params):
                tensors = take_rows(tensors, rows)
                cast = tf.cast(params, dtype)
                inputs = dict(tensors)
                inputs["parameters"] = cast
                res = (
                    source(cast, inputs, with_nested=False)
                    if _takes_nested(source)
                    else (source(cast, inputs))
                )
                mu = tf.cast(res["dom_charges"], tf.float64)
                return mu * (1.0 - tf.cast(res["dom_cdf_exclusion"], tf.float64))

            self._charge_graph = tf.function(
                graph,
                autograph=False,
                input_signature=(
                    self._signature(self.num_doms),
                    tf.TensorSpec([None], tf.int64),
                    tf.TensorSpec([None, self.num_parameters], tf.float64),
                ),
            )
        hypotheses = np.asarray(hypotheses, dtype=np.float64)
        b, k, p = hypotheses.shape
        fields = sorted_batch(batch).as_dict()
        empty = {
            "pulse_charge_pe": np.zeros(0),
            "pulse_time_ns": np.zeros(0),
            "pulse_event": np.zeros(0, np.int64),
            "pulse_dom": np.zeros(0, np.int64),
        }
        fields.update(empty)
        tensors = self._tensors(EventBatch(**fields))
        rows = np.repeat(np.arange(b), k)
        flat = hypotheses.reshape(-1, p)
        chunk = max(1, self.settings.trust_region.max_rows_per_call)
        chunk = max(
            1, min(chunk, self.settings.trust_region.max_dom_rows_per_call // self.num_doms)
        )
        with graph_optimizer_disabled(self.settings.skip_graph_optimization):
            out = [
                self._charge_graph(
                    tensors, tf.constant(rows[i : i + chunk]), tf.constant(flat[i : i + chunk])
                ).numpy()
                for i in range(0, len(rows), chunk)
            ]
        return np.concatenate(out).reshape(b, k, -1) if out else np.zeros((b, k, self.num_doms))

    # ------------------------------------------------------------------ fitting
    def _tensors(self, batch: EventBatch) -> dict:
        tensors = batch_to_tensors(batch, tf.float64)
        tensors.pop("parameters")
        return tensors

    def fit(
        self,
        batch: EventBatch,
        seeds: np.ndarray,
        interface: str | None = None,
        free: np.ndarray | None = None,
        max_iterations: int | None = None,
    ) -> FitResult:
        """Fit every event from every seed; keep the lowest loss per event.

        Parameters
        ----------
        batch : EventBatch
            B events.
        seeds : [B, S, P] or [B, P]
            Starting points (physical parameters); rows with a non-finite value are skipped.
        interface : {"batched", "scipy"}, optional
            Override the settings' minimiser.
        free : [P] bool, optional
            Batched minimiser only: fit just these parameters this time (e.g. everything but
            the direction); the others stay at the seed.
        max_iterations : int, optional
            Batched minimiser only: override the iteration limit.
        """
        start_time = time.perf_counter()
        self._check_doms(batch)
        seeds = np.asarray(seeds, dtype=np.float64)
        if seeds.ndim == 2:
            seeds = seeds[:, None, :]
        b, p = batch.num_events, self.num_parameters
        if seeds.ndim != 3 or seeds.shape[0] != b or seeds.shape[2] != p:
            raise ReconstructionError(
                f"seeds must have shape [B={b}, S, P={p}] (or [B, P]), got {seeds.shape}"
            )
        s = seeds.shape[1]
        status = precheck_events(batch)
        seed_ok = np.all(np.isfinite(seeds), axis=2)
        status[(status == int(FitStatus.OK)) & ~seed_ok.any(axis=1)] = int(FitStatus.MISSING_SEED)
        fit_events = np.flatnonzero(status == int(FitStatus.OK))

        all_parameters = np.full((b, s, p), np.nan)
        all_losses = np.full((b, s), np.nan)
        all_start = np.full((b, s), np.nan)
        all_status = np.full((b, s), int(FitStatus.NAN), dtype=np.int32)
        all_iter = np.zeros((b, s), dtype=np.int32)
        all_hess = np.full((b, s, p, p), np.nan)
        all_hess_now = np.zeros((b, s), dtype=bool)
        if fit_events.size:
            sub = sorted_batch(batch.select(fit_events))
            pairs = [(i, k) for i in range(len(fit_events)) for k in range(s)]
            pairs = [(i, k) for i, k in pairs if seed_ok[fit_events[i], k]]
            rows = np.array([i for i, _ in pairs], dtype=np.int64)
            which = np.array([k for _, k in pairs], dtype=np.int64)
            start = seeds[fit_events[rows], which]
            lower, upper = self.space.event_bounds(sub.time_window_ns)
            engine = self.minimizer(interface)
            extra = {}
            if free is not None or max_iterations is not None:
                if not isinstance(engine, BatchedTrustRegion):
                    raise ReconstructionError("free / max_iterations need the batched minimiser")
                extra = {"free": free, "max_iterations": max_iterations}
            res: MinimizerResult = engine.minimize(
                self._tensors(sub), rows, start, lower[rows], upper[rows], **extra
            )
            ev = fit_events[rows]
            all_parameters[ev, which] = self.space.normalise_angles(res.parameters)
            all_losses[ev, which] = res.loss
            all_start[ev, which] = res.loss_start
            all_status[ev, which] = res.status
            all_iter[ev, which] = res.num_iterations
            if res.hessian is not None:
                all_hess[ev, which] = res.hessian
                all_hess_now[ev, which] = res.hessian_current

        finite = np.isfinite(all_losses)
        masked = np.where(finite, all_losses, np.inf)
        best = np.argmin(masked, axis=1) if s else np.zeros(b, dtype=np.int64)
        has = finite.any(axis=1)
        idx = np.arange(b)
        parameters = np.where(has[:, None], all_parameters[idx, best], np.nan)
        loss_reco = np.where(has, all_losses[idx, best], np.nan)
        loss_seed = np.where(has, all_start[idx, best], np.nan)
        fit_status = status.copy()
        fitted = status == int(FitStatus.OK)
        fit_status[fitted & has] = all_status[idx, best][fitted & has]
        fit_status[fitted & ~has] = int(FitStatus.NAN)
        best_seed = np.where(has, best, -1)
        seed_parameters = np.where(has[:, None], seeds[idx, np.maximum(best, 0)], np.nan)
        return FitResult(
            parameters=parameters,
            loss_reco=loss_reco,
            loss_seed=loss_seed,
            fit_status=fit_status.astype(np.int32),
            num_iterations=np.where(has, all_iter[idx, best], 0).astype(np.int32),
            best_seed=best_seed.astype(np.int64),
            seed_parameters=seed_parameters,
            all_parameters=all_parameters,
            all_losses=all_losses,
            all_status=all_status,
            runtime_s=time.perf_counter() - start_time,
            hessian=np.where(has[:, None, None], all_hess[idx, best], np.nan),
            hessian_current=has & all_hess_now[idx, best],
        )

    def loss(self, batch: EventBatch, parameters: np.ndarray) -> np.ndarray:
        """Loss [B] of each event at parameters [B, P] (or [B, K, P] -> [B, K])."""
        self._check_doms(batch)
        parameters = np.asarray(parameters, dtype=np.float64)
        shape = parameters.shape[:-1]
        flat = parameters.reshape(-1, self.num_parameters)
        rows = np.repeat(np.arange(batch.num_events), flat.shape[0] // max(batch.num_events, 1))
        loss, _ = self.evaluator(self._tensors(sorted_batch(batch)), rows, flat)
        return loss.reshape(shape)

    def covariance(
        self, batch: EventBatch, fit: FitResult | np.ndarray, reuse: bool = True
    ) -> CovarianceResult:
        """Covariance at the best fits (a FitResult) or at given parameters [B, P].

        With a FitResult of the batched minimiser the Hessians it evaluated at the best fits
        are reused (``hessian_current``); only the other events are evaluated here. Events
        with non-finite parameters get NaN.
        """
        start_time = time.perf_counter()
        self._check_doms(batch)
        if isinstance(fit, FitResult):
            parameters = fit.parameters
            current = fit.hessian_current if reuse and fit.hessian is not None else None
        else:
            parameters, current = np.asarray(fit, dtype=np.float64), None
        parameters = np.asarray(parameters, dtype=np.float64)
        b, p = parameters.shape
        ok = np.all(np.isfinite(parameters), axis=1)
        hessian = np.full((b, p, p), np.nan)
        if current is not None:
            hessian[current & ok] = fit.hessian[current & ok]
            todo = np.flatnonzero(ok & ~current)
        else:
            todo = np.flatnonzero(ok)
        if todo.size:
            sub = sorted_batch(batch.select(todo))
            hessian[todo] = self.covariance_estimator().hessian(
                self._tensors(sub), np.arange(todo.size), parameters[todo]
            )
        safe = np.where(ok[:, None], parameters, 1.0)
        out = covariance_from_hessian(self.space, hessian, safe)
        out.covariance[~ok] = np.nan
        out.runtime_s = time.perf_counter() - start_time
        return out


def _takes_nested(source) -> bool:
    import inspect

    try:
        return "with_nested" in inspect.signature(source.__call__).parameters
    except (TypeError, ValueError):
        return False


def synthetic_batch(num_doms: int, num_parameters: int) -> EventBatch:
    """A one-event batch with a few pulses (for warming up graphs)."""
    doms = np.arange(min(3, num_doms), dtype=np.int64)
    n = doms.size
    charge = np.zeros((1, num_doms))
    charge[0, doms] = 1.0
    return EventBatch(
        parameters=np.zeros((1, num_parameters)),
        pulse_charge_pe=np.ones(n),
        pulse_time_ns=1000.0 + 10.0 * np.arange(n),
        pulse_event=np.zeros(n, dtype=np.int64),
        pulse_dom=doms,
        dom_charge=charge,
        dom_valid=np.ones((1, num_doms), dtype=bool),
        time_window_ns=np.array([[0.0, 20000.0]]),
        window_exclusions_ns=np.zeros((0, 2)),
        window_event=np.zeros(0, dtype=np.int64),
        window_dom=np.zeros(0, dtype=np.int64),
        event_id=np.zeros((1, 4), dtype=np.int64),
        weights=np.ones(1),
    )
