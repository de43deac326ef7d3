"""The objective of a fit and the ONE traced function every minimiser calls.

An *objective* is a callable ``objective(parameters [R, P] float64, tensors) -> [R] float64``
where ``tensors`` is a batch-tensor dictionary of R events (``resources/docs/internals.md``).
:func:`source_objective` builds it from a Source and a loss module.

:class:`RowEvaluator` traces ``(loss, gradient)`` of the objective once, with a fixed input
signature: rows (events, repeated as needed) of a batch, a chart centre and normalised offsets
per row (:mod:`egenerator.reco.parameter_space`). Everything else is built on this one graph:
the trust-region iterations, finite-difference Hessians (the rows replicated 2P times), loss
evaluations for seeds, covariances and the scipy interface. Sources can be expensive to trace
(the oracle's graph takes about a minute); a single trace keeps the start-up cost to one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager

import numpy as np
import tensorflow as tf

from .parameter_space import ParameterSpace
from .tensor_rows import take_rows

Objective = Callable[[tf.Tensor, Mapping[str, tf.Tensor]], tf.Tensor]


def source_parameter_dtype(source) -> tf.DType:
    """dtype the source gets its parameters in: ``source.parameter_dtype`` if it declares one,
    else float64 (sources cast internally and keep times relative to a float64 origin)."""
    value = getattr(source, "parameter_dtype", None)
    if value is not None:
        dtype = tf.as_dtype(value)
        if dtype.is_floating:
            return dtype
    return tf.float64


def _call_loss(loss_module, tensors, results) -> tf.Tensor:
    """Per-event loss [B] of a loss module: ``loss_module(tensors, results)`` returning the
    totals, or ``(totals, terms)`` like :class:`~egenerator.loss.module.MultiLossModule`."""
    out = loss_module(tensors, results)
    if isinstance(out, tuple | list):
        out = out[0]
    return out


def source_objective(source, loss_module, parameter_dtype: tf.DType | None = None) -> Objective:
    """The objective ``loss_module(tensors, source(parameters, tensors))`` in float64.

    Parameters
    ----------
    source : Source
        ``source(parameters [B, P], tensors) -> results``.
    loss_module : callable
        ``(tensors, results) -> [B]`` (or ``([B], terms)``) negative log-likelihood.
    parameter_dtype : tf.DType, optional
        dtype handed to the source (default: :func:`source_parameter_dtype`).
    """
    dtype = parameter_dtype or source_parameter_dtype(source)

    def objective(parameters: tf.Tensor, tensors: Mapping[str, tf.Tensor]) -> tf.Tensor:
        cast = tf.cast(parameters, dtype)
        inputs = dict(tensors)
        inputs["parameters"] = cast
        results = source(cast, inputs)
        return tf.cast(_call_loss(loss_module, inputs, results), tf.float64)

    return objective


@contextmanager
def graph_optimizer_disabled(disable: bool = True):
    """Run the body with TensorFlow's grappler meta-optimizer off (global TF setting, restored).

    The first call of a traced function optimises its graph; for very large graphs (the oracle)
    that takes longer than all the optimisation ever saves (measured: 31 s instead of 79 s for
    the oracle's value-and-gradient, the same speed afterwards). The setting is part of the
    function's instantiation: a function must always be called with the same setting, or it is
    instantiated (and optimised) again.
    """
    if disable and tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer"):
        yield
        return
    if not disable:
        yield
        return
    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        restored = {"disable_meta_optimizer": bool(before.get("disable_meta_optimizer", False))}
        tf.config.optimizer.set_experimental_options(restored)


class RowEvaluator:
    """Loss and gradient of rows of a batch, traced once (see the module docstring).

    Parameters
    ----------
    objective : Objective
    space : ParameterSpace
    signature : dict of tf.TensorSpec
        Batch-tensor signature (without ``parameters``).
    max_rows : int
        Rows evaluated per call at most (larger requests are split; bounds memory).
    max_pulses : int
        Pulses (summed over the rows) evaluated per call at most.
    max_dom_rows : int
        Rows x DOMs evaluated per call at most (per-DOM intermediates dominate the memory of
        large detectors).
    skip_graph_optimization : bool
        Call the graph with grappler off (see :func:`graph_optimizer_disabled`). It must be
        the same for every call: TensorFlow instantiates (and optimises) a function anew when
        the setting changes.
    """

    def __init__(
        self,
        objective: Objective,
        space: ParameterSpace,
        signature: dict,
        max_rows: int = 4096,
        max_pulses: int = 200_000,
        max_dom_rows: int = 200_000,
        skip_graph_optimization: bool = True,
    ) -> None:
        self.objective = objective
        self.space = space
        num_doms = int(signature["dom_charge"].shape[1] or 1)
        self.max_rows = max(1, min(int(max_rows), int(max_dom_rows) // num_doms))
        self.max_pulses = int(max_pulses)
        self.skip_graph_optimization = bool(skip_graph_optimization)
        self._count_key = None
        self._counts = np.zeros(0, dtype=np.int64)
        p = space.num_parameters
        matrix = tf.TensorSpec([None, p], tf.float64)
        self._function = tf.function(
            self._graph,
            autograph=False,
            input_signature=(
                signature,
                tf.TensorSpec([None], tf.int64),
                matrix,
                matrix,
                matrix,
                matrix,
            ),
        )
        self.num_calls = 0
        self.num_rows_evaluated = 0

    def _graph(self, tensors, rows, centers, u, lower, upper):
        with tf.GradientTape() as tape:
            tape.watch(u)
            physical = self.space.project(self.space.to_physical(centers, u), lower, upper)
            loss = self.objective(physical, take_rows(tensors, rows))
        return loss, tape.gradient(loss, u)

    def trace(self) -> None:
        """Trace the graph now (without running it)."""
        self._function.get_concrete_function()

    def __call__(
        self,
        tensors: dict,
        rows: np.ndarray,
        centers: np.ndarray,
        u: np.ndarray | None = None,
        lower: np.ndarray | None = None,
        upper: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Loss [n] and gradient [n, P] (with respect to ``u``) of n rows.

        Parameters
        ----------
        tensors : dict of tf.Tensor
            Batch tensors (without ``parameters``).
        rows : [n] int
            Event of each row.
        centers : [n, P]
            Chart centres (physical parameters).
        u : [n, P], optional
            Normalised offsets (default 0: the centres themselves).
        lower, upper : [n, P], optional
            Bounds the mapped parameters are clipped to (default: none).
        """
        rows = np.asarray(rows, dtype=np.int64)
        centers = np.asarray(centers, dtype=np.float64)
        n, p = centers.shape
        u = np.zeros_like(centers) if u is None else np.asarray(u, dtype=np.float64)
        lower = np.full((n, p), -np.inf) if lower is None else np.asarray(lower, np.float64)
        upper = np.full((n, p), np.inf) if upper is None else np.asarray(upper, np.float64)
        loss = np.empty(n)
        grad = np.empty((n, p))
        for sl in self._chunks(tensors, rows):
            with graph_optimizer_disabled(self.skip_graph_optimization):
                out_loss, out_grad = self._function(
                    tensors,
                    tf.constant(rows[sl]),
                    tf.constant(centers[sl]),
                    tf.constant(u[sl]),
                    tf.constant(lower[sl]),
                    tf.constant(upper[sl]),
                )
            loss[sl] = out_loss.numpy()
            grad[sl] = out_grad.numpy()
            self.num_calls += 1
        self.num_rows_evaluated += n
        return loss, grad

    def _chunks(self, tensors: dict, rows: np.ndarray) -> list[slice]:
        """Consecutive row ranges with at most ``max_rows`` rows and ``max_pulses`` pulses
        (a single event above the pulse budget gets a call of its own)."""
        key = tensors["pulse_event"]
        if self._count_key is not key:  # the reference keeps the id from being reused
            num_events = int(tensors["dom_charge"].shape[0])
            events = np.asarray(tensors["pulse_event"]).astype(np.int64)
            self._counts = np.bincount(events, minlength=num_events)[:num_events]
            self._count_key = key
        cost = self._counts[rows]
        out, begin, n = [], 0, len(rows)
        while begin < n:
            total = np.cumsum(cost[begin : begin + self.max_rows])
            length = max(1, int(np.searchsorted(total, self.max_pulses, side="right")))
            out.append(slice(begin, begin + length))
            begin += length
        return out

    def hessian(
        self,
        tensors: dict,
        rows: np.ndarray,
        centers: np.ndarray,
        step: float = 0.1,
        dims: np.ndarray | None = None,
    ) -> np.ndarray:
        """Chart Hessians [n, P, P] at the centres by central differences of the gradient.

        The rows are replicated 2F times (offsets +-step along each of the F normalised axes
        ``dims``, default all P) and evaluated in one call; the result is symmetrised. Rows
        and columns outside ``dims`` are 0. Error ~ step^2 relative.
        """
        rows = np.asarray(rows, dtype=np.int64)
        centers = np.asarray(centers, dtype=np.float64)
        n, p = centers.shape
        dims = np.arange(p) if dims is None else np.flatnonzero(np.asarray(dims))
        if dims.dtype == bool:
            dims = np.flatnonzero(dims)
        f = dims.size
        hess = np.zeros((n, p, p))
        if n == 0 or f == 0:
            return hess
        axes = np.eye(p)[dims]  # [F, P]
        offsets = np.concatenate([axes, -axes]) * step  # [2F, P]
        rep_rows = np.repeat(rows, 2 * f)
        rep_centers = np.repeat(centers, 2 * f, axis=0)
        rep_u = np.tile(offsets, (n, 1))
        _, grad = self(tensors, rep_rows, rep_centers, rep_u)
        grad = grad.reshape(n, 2, f, p)[:, :, :, dims]
        block = (grad[:, 0] - grad[:, 1]) / (2.0 * step)
        hess[:, dims[:, None], dims[None, :]] = 0.5 * (block + np.swapaxes(block, 1, 2))
        return hess
