"""Batched trust-region Newton minimisation of many events x seeds in one TensorFlow graph.

Every row (one event with one seed) is an independent problem. Each iteration, for the rows
that are still active:

1. the loss, gradient and exact Hessian (P x P, from nested gradient tapes) are evaluated in the
   chart centred at the row's current point (:mod:`egenerator.reco.parameter_space`), so the
   direction is always optimised in a fresh tangent plane;
2. parameters that are fixed, or that sit on a bound with the gradient pointing outwards, are
   frozen for this iteration;
3. the trust-region subproblem ``min g.s + s.H.s / 2, |s| <= radius`` is solved exactly from
   the eigen-decomposition of H (the Levenberg shift found by bisection; along the most negative
   eigenvector when H is indefinite);
4. the step is mapped to physical parameters, projected onto the bounds and evaluated; it is
   accepted when the actual decrease is at least ``accept_ratio`` times the predicted one, and
   the radius grows or shrinks with that ratio.

A row is converged when H is positive definite and the Newton decrement ``g.H^-1.g / 2`` (the
decrease a full Newton step would bring) is below ``tolerance``; converged rows leave the active
set and are not evaluated again. Rows stop unconverged when the radius collapses or the
iteration limit is reached (they still count as converged below ``loose_tolerance``).

The whole loop is one ``tf.function`` with a fixed input signature: one trace serves every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .objective import Objective, value_gradient_hessian
from .parameter_space import ParameterSpace
from .settings import TrustRegionSettings
from .status import FitStatus
from .tensor_rows import take_rows

_BISECTION_STEPS = 60


@dataclass
class MinimizerResult:
    """Outcome per row (numpy)."""

    parameters: np.ndarray  # [R, P] float64
    loss: np.ndarray  # [R]
    loss_start: np.ndarray  # [R] loss at the starting point
    num_iterations: np.ndarray  # [R] int
    status: np.ndarray  # [R] FitStatus codes
    decrement: np.ndarray  # [R] last Newton decrement (inf where H was not pos. definite)
    hessian: np.ndarray | None = None  # [R, P, P] chart Hessian at the last evaluated point
    hessian_current: np.ndarray | None = None  # [R] bool: that point is the result


def solve_trust_region(
    gradient: tf.Tensor, hessian: tf.Tensor, radius: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact solution of ``min g.s + s.H.s / 2`` s.t. ``|s| <= radius`` for a batch of rows.

    Parameters
    ----------
    gradient : [A, P]
    hessian : [A, P, P] symmetric
    radius : [A]

    Returns
    -------
    step : [A, P]
    decrement : [A]
        ``g.H^-1.g / 2`` where H is positive definite, else +inf.
    """
    eigenvalues, eigenvectors = tf.linalg.eigh(hessian)
    g_eig = tf.einsum("apk,ap->ak", eigenvectors, gradient)
    lam_min = eigenvalues[:, 0]
    scale = tf.reduce_max(tf.abs(eigenvalues), axis=1) + 1e-300
    positive = lam_min > 1e-12 * scale
    safe_eig = tf.where(positive[:, None], eigenvalues, tf.ones_like(eigenvalues))
    decrement = tf.where(
        positive,
        0.5 * tf.reduce_sum(g_eig * g_eig / safe_eig, axis=1),
        tf.fill(tf.shape(lam_min), tf.constant(np.inf, tf.float64)),
    )
    newton_eig = -g_eig / safe_eig
    newton_norm = tf.norm(newton_eig, axis=1)
    use_newton = positive & (newton_norm <= radius)

    # Levenberg shift: |s(lam)| = radius with lam > max(0, -lam_min), by bisection.
    g_norm = tf.norm(gradient, axis=1)
    low0 = tf.maximum(-lam_min, 0.0)
    high0 = low0 + g_norm / radius + 1e-300

    def step_norm(lam):
        denom = eigenvalues + lam[:, None]
        denom = tf.where(
            denom > 0, denom, tf.fill(tf.shape(denom), tf.constant(1e-300, tf.float64))
        )
        return tf.norm(g_eig / denom, axis=1)

    def body(i, low, high):
        mid = 0.5 * (low + high)
        too_long = step_norm(mid) > radius
        return i + 1, tf.where(too_long, mid, low), tf.where(too_long, high, mid)

    _, _, lam = tf.while_loop(
        lambda i, low, high: i < _BISECTION_STEPS, body, (tf.constant(0), low0, high0)
    )
    denom = eigenvalues + lam[:, None]
    denom = tf.where(denom > 0, denom, tf.fill(tf.shape(denom), tf.constant(1e-300, tf.float64)))
    shifted_eig = -g_eig / denom
    # Hard case / indefinite H: fill up to the boundary along the lowest eigenvector.
    shifted_norm2 = tf.reduce_sum(shifted_eig * shifted_eig, axis=1)
    extra = tf.sqrt(tf.maximum(radius * radius - shifted_norm2, 0.0))
    sign = tf.where(g_eig[:, 0] > 0, -tf.ones_like(extra), tf.ones_like(extra))
    extra = tf.where(lam_min < 0, sign * extra, tf.zeros_like(extra))
    one_hot = tf.one_hot(
        tf.zeros_like(lam_min, dtype=tf.int32), tf.shape(eigenvalues)[1], dtype=tf.float64
    )
    shifted_eig = shifted_eig + extra[:, None] * one_hot
    step_eig = tf.where(use_newton[:, None], newton_eig, shifted_eig)
    step = tf.einsum("apk,ak->ap", eigenvectors, step_eig)
    return step, decrement


class BatchedTrustRegion:
    """The batched minimiser for one objective and parameter space (traced once).

    Parameters
    ----------
    objective : Objective
    space : ParameterSpace
    settings : TrustRegionSettings
    signature : dict of tf.TensorSpec
        Input signature of the batch tensors (without ``parameters``).
    """

    def __init__(
        self,
        objective: Objective,
        space: ParameterSpace,
        settings: TrustRegionSettings,
        signature: dict,
    ) -> None:
        self.objective = objective
        self.space = space
        self.settings = settings
        p = space.num_parameters
        matrix = tf.TensorSpec([None, p], tf.float64)
        self._minimize = tf.function(
            self._minimize_graph,
            autograph=False,
            input_signature=(
                signature,
                tf.TensorSpec([None], tf.int64),
                matrix,
                matrix,
                matrix,
            ),
        )
        self.num_traces = 0

    def minimize(
        self,
        tensors: dict,
        rows: np.ndarray,
        start: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> MinimizerResult:
        """Minimise every row.

        Parameters
        ----------
        tensors : dict of tf.Tensor
            Batch tensors of the B events (without ``parameters``).
        rows : [R] int
            Event of each row (rows replicate events, e.g. one per seed).
        start, lower, upper : [R, P] float64
            Starting point and physical bounds of each row.
        """
        out = self._minimize(
            tensors,
            tf.constant(np.asarray(rows, dtype=np.int64)),
            tf.constant(np.asarray(start, dtype=np.float64)),
            tf.constant(np.asarray(lower, dtype=np.float64)),
            tf.constant(np.asarray(upper, dtype=np.float64)),
        )
        return MinimizerResult(*(v.numpy() for v in out))

    # ------------------------------------------------------------------ graph
    def _minimize_graph(self, tensors, rows, start, lower, upper):
        self.num_traces += 1
        s = self.settings
        space = self.space
        tensors = take_rows(tensors, rows)
        num_rows = tf.shape(start)[0]
        p = space.num_parameters
        free = tf.constant(space.free_mask)
        start = space.project(start, lower, upper)

        loss0 = self.objective(start, tensors)
        finite0 = tf.math.is_finite(loss0)
        status0 = tf.where(finite0, int(FitStatus.OK), int(FitStatus.NAN))
        inf = tf.constant(np.inf, tf.float64)

        state = (
            tf.constant(0),
            start,  # x
            tf.where(finite0, loss0, inf),  # loss at x
            tf.fill([num_rows], tf.constant(s.initial_radius, tf.float64)),
            tf.logical_not(finite0),  # done
            tf.zeros([num_rows], tf.int32),  # iterations
            tf.cast(status0, tf.int32),
            tf.fill([num_rows], inf),  # decrement
            tf.fill([num_rows, p, p], tf.constant(np.nan, tf.float64)),  # Hessian
            tf.zeros([num_rows], tf.bool),  # Hessian at x
        )

        def cond(it, x, loss, radius, done, n_iter, status, decrement, hess, hess_now):
            return tf.logical_and(it < s.max_iterations, tf.reduce_any(tf.logical_not(done)))

        def body(it, x, loss, radius, done, n_iter, status, decrement, hess, hess_now):
            active = tf.cast(tf.where(tf.logical_not(done))[:, 0], tf.int32)
            sub = take_rows(tensors, active)
            xa = tf.gather(x, active)
            la, ua = tf.gather(lower, active), tf.gather(upper, active)
            ra = tf.gather(radius, active)
            fa, ga, ha = value_gradient_hessian(
                self.objective, space, xa, sub, method=s.hessian_method, step=s.hessian_step
            )
            raw_hessian = ha
            bad = tf.logical_not(
                tf.math.is_finite(fa)
                & tf.reduce_all(tf.math.is_finite(ga), axis=1)
                & tf.reduce_all(tf.math.is_finite(ha), axis=[1, 2])
            )
            # Frozen this iteration: fixed, or on a bound with the gradient pointing outwards.
            at_low = (xa <= la) & (ga > 0)
            at_high = (xa >= ua) & (ga < 0)
            move = free[None, :] & tf.logical_not(at_low | at_high)
            movef = tf.cast(move, tf.float64)
            ga = tf.where(bad[:, None], tf.zeros_like(ga), ga * movef)
            outer = movef[:, :, None] * movef[:, None, :]
            eye = tf.eye(p, batch_shape=[tf.shape(xa)[0]], dtype=tf.float64)
            ha = tf.where(bad[:, None, None], eye, ha * outer + eye * (1.0 - movef)[:, None, :])

            step, dec = solve_trust_region(ga, ha, ra)
            step = step * movef
            converged = (dec < s.tolerance) & tf.logical_not(bad)

            trial = space.project(space.to_physical(xa, step), la, ua)
            f_trial = self.objective(trial, sub)
            predicted = -(
                tf.reduce_sum(ga * step, axis=1) + 0.5 * tf.einsum("ap,apq,aq->a", step, ha, step)
            )
            actual = fa - f_trial
            finite_trial = tf.math.is_finite(f_trial)
            ratio = actual / tf.maximum(predicted, 1e-300)
            accept = (
                finite_trial
                & (actual > 0)
                & (ratio > s.accept_ratio)
                & tf.logical_not(converged | bad)
            )
            step_norm = tf.norm(step, axis=1)
            shrink = tf.logical_not(finite_trial) | (ratio < 0.25)
            grow = (ratio > 0.75) & (step_norm > 0.9 * ra)
            new_radius = tf.where(
                shrink,
                0.25 * tf.minimum(step_norm, ra),
                tf.where(grow, tf.minimum(2.0 * ra, s.max_radius), ra),
            )
            x_new = tf.where(accept[:, None], trial, xa)
            f_new = tf.where(accept, f_trial, fa)
            n_new = tf.gather(n_iter, active) + 1
            collapsed = new_radius < s.min_radius
            out_of_iterations = n_new >= s.max_iterations
            stop = converged | bad | collapsed | out_of_iterations
            loose = dec < s.loose_tolerance
            st = tf.where(
                bad,
                int(FitStatus.NAN),
                tf.where(converged | loose, int(FitStatus.OK), int(FitStatus.FAILED_MINIMIZATION)),
            )
            idx = active[:, None]
            x = tf.tensor_scatter_nd_update(x, idx, x_new)
            loss = tf.tensor_scatter_nd_update(loss, idx, f_new)
            radius = tf.tensor_scatter_nd_update(radius, idx, new_radius)
            done = tf.tensor_scatter_nd_update(done, idx, stop)
            n_iter = tf.tensor_scatter_nd_update(n_iter, idx, n_new)
            status = tf.tensor_scatter_nd_update(status, idx, tf.cast(st, tf.int32))
            decrement = tf.tensor_scatter_nd_update(decrement, idx, dec)
            hess = tf.tensor_scatter_nd_update(hess, idx, raw_hessian)
            hess_now = tf.tensor_scatter_nd_update(hess_now, idx, tf.logical_not(accept))
            return it + 1, x, loss, radius, done, n_iter, status, decrement, hess, hess_now

        _, x, loss, _, done, n_iter, status, decrement, hess, hess_now = tf.while_loop(
            cond, body, state, parallel_iterations=1
        )
        # Rows still active when the loop ended (only possible via the iteration cap).
        status = tf.where(
            tf.logical_not(done) & (status == int(FitStatus.OK)),
            tf.where(
                decrement < s.loose_tolerance,
                int(FitStatus.OK),
                int(FitStatus.FAILED_MINIMIZATION),
            ),
            status,
        )
        return x, loss, loss0, n_iter, status, decrement, hess, hess_now
