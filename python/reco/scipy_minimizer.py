"""Minimisation with ``scipy.optimize.minimize`` and TensorFlow gradients.

The variables are the normalised offsets of the *free* parameters in a chart centred at the
seed (:mod:`egenerator.reco.parameter_space`); bounds become box bounds on them (L-BFGS-B, TNC,
SLSQP, trust-constr, Powell, Nelder-Mead); methods without bounds (BFGS, CG, ...) see the
parameters projected onto the bounds. When a fit moves the direction far from the chart centre
(> ``RECENTER_ANGLE_RAD``), it is continued once in a chart centred at its result.

Two modes: ``per_event`` (one ``minimize`` call per row) and ``joint`` (all rows as one separable
objective, the sum of the per-row losses, in a single call).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import tensorflow as tf

from .objective import RowEvaluator
from .parameter_space import ParameterSpace, direction_vector
from .status import FitStatus
from .trust_region import MinimizerResult

RECENTER_ANGLE_RAD = 0.5
_BOUNDED_METHODS = {"l-bfgs-b", "tnc", "slsqp", "trust-constr", "powell", "nelder-mead", "cobyqa"}
DEFAULT_OPTIONS = {"maxiter": 1000}


class ScipyMinimizer:
    """Minimises rows with scipy, using the shared traced value-and-gradient function.

    Parameters
    ----------
    evaluator : RowEvaluator
    space : ParameterSpace
    method : str
        ``scipy.optimize.minimize`` method.
    options : dict
        Its options (default ``{"maxiter": 1000}``).
    mode : {"per_event", "joint"}
    """

    def __init__(
        self,
        evaluator: RowEvaluator,
        space: ParameterSpace,
        method: str,
        options: dict,
        mode: str,
    ) -> None:
        self.evaluator = evaluator
        self.space = space
        self.method = method
        self.options = dict(DEFAULT_OPTIONS, **(options or {}))
        self.mode = mode
        self._bounded = method.lower() in _BOUNDED_METHODS

    def _value_and_gradient(self, tensors, rows, center, u, lower, upper):
        if self._bounded:  # box bounds keep the offsets inside: no projection needed
            return self.evaluator(tensors, rows, center, u)
        return self.evaluator(tensors, rows, center, u, lower, upper)

    def _physical(self, center, u, lower, upper) -> np.ndarray:
        physical = self.space.to_physical(tf.constant(center), tf.constant(u))
        return self.space.project(physical, tf.constant(lower), tf.constant(upper)).numpy()

    def _box(self, center: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """[R, F, 2] bounds of the free offsets (+-inf where unbounded)."""
        sp = self.space
        pair_index = {i for pair in sp.direction_pairs for i in pair}
        with np.errstate(divide="ignore", invalid="ignore"):
            lin_low = (lower - center) / sp.scales
            lin_high = (upper - center) / sp.scales
            log_low = np.log(lower / center) / sp.scales
            log_high = np.log(upper / center) / sp.scales
        low = np.where(sp.log_mask, log_low, lin_low)
        high = np.where(sp.log_mask, log_high, lin_high)
        for i in pair_index:
            low[:, i], high[:, i] = -np.inf, np.inf
        low = np.minimum(np.nan_to_num(low, nan=-np.inf), 0.0)
        high = np.maximum(np.nan_to_num(high, nan=np.inf), 0.0)
        free = sp.free_mask
        return np.stack([low[:, free], high[:, free]], axis=-1)

    def _run(self, tensors, rows, center, lower, upper, start_u=None):
        """One scipy call per row (or one joint call); returns (u [R, F], ok, nit, nan)."""
        sp = self.space
        free = sp.free_mask
        r = len(rows)
        nfree = int(free.sum())
        box = self._box(center, lower, upper)
        tf_rows = np.asarray(rows, dtype=np.int64)
        tf_center, tf_low, tf_high = center, lower, upper

        def full_u(x_free: np.ndarray, count: int) -> np.ndarray:
            u = np.zeros((count, sp.num_parameters))
            u[:, free] = x_free.reshape(count, nfree)
            return u

        def make_fun(sel_rows, sel_center, sel_low, sel_high):
            count = int(sel_rows.shape[0])

            def fun(x):
                loss, grad = self._value_and_gradient(
                    tensors, sel_rows, sel_center, full_u(x, count), sel_low, sel_high
                )
                grad = grad[:, free]
                total = float(np.sum(loss))
                if not np.isfinite(total) or not np.all(np.isfinite(grad)):
                    return np.inf, np.zeros(count * nfree)
                return total, grad.ravel()

            return fun

        x_out = np.zeros((r, nfree))
        ok = np.zeros(r, dtype=bool)
        nit = np.zeros(r, dtype=np.int32)
        if self.mode == "joint":
            fun = make_fun(tf_rows, tf_center, tf_low, tf_high)
            x0 = np.zeros(r * nfree) if start_u is None else start_u.ravel()
            bounds = box.reshape(-1, 2) if self._bounded else None
            res = scipy.optimize.minimize(
                fun, x0, jac=True, method=self.method, bounds=bounds, options=self.options
            )
            x_out[:] = res.x.reshape(r, nfree)
            ok[:] = bool(res.success)
            nit[:] = int(getattr(res, "nit", 0))
            return x_out, ok, nit
        for k in range(r):
            sl = slice(k, k + 1)
            fun = make_fun(tf_rows[sl], tf_center[sl], tf_low[sl], tf_high[sl])
            x0 = np.zeros(nfree) if start_u is None else start_u[k]
            res = scipy.optimize.minimize(
                fun,
                x0,
                jac=True,
                method=self.method,
                bounds=box[k] if self._bounded else None,
                options=self.options,
            )
            x_out[k] = res.x
            ok[k] = bool(res.success)
            nit[k] = int(getattr(res, "nit", 0))
        return x_out, ok, nit

    def minimize(
        self,
        tensors: dict,
        rows: np.ndarray,
        start: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> MinimizerResult:
        """Minimise every row (same arguments as :meth:`BatchedTrustRegion.minimize`)."""
        sp = self.space
        rows = np.asarray(rows, dtype=np.int64)
        start = np.asarray(start, dtype=np.float64)
        start = np.where(sp.free_mask, np.clip(start, lower, upper), start)
        r = len(rows)
        zeros = np.zeros_like(start)
        loss0, _ = self._value_and_gradient(tensors, rows, start, zeros, lower, upper)
        finite = np.isfinite(loss0)
        x = start.copy()
        ok = np.zeros(r, dtype=bool)
        nit = np.zeros(r, dtype=np.int32)
        todo = np.flatnonzero(finite)
        if todo.size:
            center = start[todo]
            u_free, ok_t, nit_t = self._run(tensors, rows[todo], center, lower[todo], upper[todo])
            u = np.zeros_like(center)
            u[:, sp.free_mask] = u_free
            result = self._physical(center, u, lower[todo], upper[todo])
            # Continue in a chart centred at the result where the direction moved far.
            moved = np.zeros(len(todo), dtype=bool)
            for i_zen, i_az in sp.direction_pairs:
                a = direction_vector(center[:, i_zen], center[:, i_az])
                b = direction_vector(result[:, i_zen], result[:, i_az])
                angle = np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0))
                moved |= angle > RECENTER_ANGLE_RAD
            if moved.any():
                again = np.flatnonzero(moved)
                u2, ok2, nit2 = self._run(
                    tensors,
                    rows[todo][again],
                    result[again],
                    lower[todo][again],
                    upper[todo][again],
                )
                u_full = np.zeros((len(again), sp.num_parameters))
                u_full[:, sp.free_mask] = u2
                result[again] = self._physical(
                    result[again], u_full, lower[todo][again], upper[todo][again]
                )
                ok_t[again] = ok2
                nit_t[again] += nit2
            result = np.where(sp.free_mask, result, start[todo])
            x[todo] = result
            ok[todo] = ok_t
            nit[todo] = nit_t
        loss, _ = self._value_and_gradient(tensors, rows, x, zeros, lower, upper)
        status = np.where(ok, int(FitStatus.OK), int(FitStatus.FAILED_MINIMIZATION))
        status = np.where(np.isfinite(loss) & finite, status, int(FitStatus.NAN)).astype(np.int32)
        return MinimizerResult(
            parameters=x,
            loss=loss,
            loss_start=loss0,
            num_iterations=nit,
            status=status,
            decrement=np.full(r, np.nan),
        )
