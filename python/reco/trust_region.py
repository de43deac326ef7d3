"""Batched trust-region Newton minimisation of many events x seeds at once.

Every row (one event with one seed) is an independent problem; all rows that are still active
are evaluated together in each call of the one traced function (:class:`RowEvaluator`). Each
iteration:

1. with the gradient g and the Hessian H (central differences of autodiff gradients) in the
   chart centred at the row's current point (:mod:`egenerator.reco.parameter_space`, so the
   direction is always optimised in a fresh tangent plane), parameters that are fixed or that
   sit on a bound with the gradient pointing outwards are frozen for this iteration;
2. the row is converged when H is positive definite and the Newton decrement ``g.H^-1.g / 2``
   (the decrease a full Newton step would bring) is below ``tolerance``: it leaves the active
   set and is not evaluated again;
3. otherwise the trust-region subproblem ``min g.s + s.H.s / 2, |s| <= radius`` is solved
   exactly from the eigen-decomposition of H (the Levenberg shift by bisection; along the most
   negative eigenvector when H is indefinite), the step is mapped to physical parameters,
   projected onto the bounds and evaluated (loss and gradient, one batched call);
4. the step is accepted when the actual decrease is at least ``accept_ratio`` times the
   predicted one; the radius grows or shrinks with that ratio. Accepted rows get a new Hessian
   (a second batched call, 2P gradient evaluations per row) when the quadratic model was poor
   (ratio < 0.5), the step long (> 1 unit) or the Hessian ``hessian_refresh`` accepted steps
   old; otherwise the previous one serves (the chart moves with the point, so a Hessian from a
   nearby point is a good model). Convergence is only declared with a fresh Hessian.

A row has also converged when its loss decreased by less than ``stall_tolerance`` over the last
``stall_iterations`` iterations: at a minimum on a cusp of the likelihood (the oracle's
Cherenkov peak) the gradient does not vanish and the Newton decrement never becomes small.
Rows stop unconverged when the radius collapses or the iteration limit is reached (they still
count as converged below ``loose_tolerance``). A row that converged on the Newton decrement ends
with the Hessian at its final point (``hessian_current``), so its covariance costs nothing
extra; the others get theirs evaluated by the covariance estimator.

The linear algebra on P x P matrices runs in numpy (vectorised over rows); the expensive part,
the source and the likelihood, runs in the traced graph.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .objective import RowEvaluator
from .parameter_space import ParameterSpace
from .settings import TrustRegionSettings
from .status import FitStatus

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
    hessian: np.ndarray | None = None  # [R, P, P] chart Hessian at the result
    hessian_current: np.ndarray | None = None  # [R] bool: it was taken at the result


def solve_trust_region(
    gradient: np.ndarray, hessian: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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
    gradient = np.asarray(gradient, dtype=np.float64)
    radius = np.asarray(radius, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(hessian, dtype=np.float64))
    g_eig = np.einsum("apk,ap->ak", eigenvectors, gradient)
    lam_min = eigenvalues[:, 0]
    scale = np.max(np.abs(eigenvalues), axis=1) + 1e-300
    positive = lam_min > 1e-12 * scale
    safe_eig = np.where(positive[:, None], eigenvalues, 1.0)
    decrement = np.where(positive, 0.5 * np.sum(g_eig * g_eig / safe_eig, axis=1), np.inf)
    newton_eig = -g_eig / safe_eig
    use_newton = positive & (np.linalg.norm(newton_eig, axis=1) <= radius)

    # Levenberg shift: |s(lam)| = radius with lam > max(0, -lam_min), by bisection
    low = np.maximum(-lam_min, 0.0)
    high = low * (1.0 + 1e-9) + np.linalg.norm(gradient, axis=1) / radius + 1e-300

    def shifted(lam):
        denom = eigenvalues + lam[:, None]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return -g_eig / np.where(denom > 0, denom, 1e-300)

    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (low + high)
        with np.errstate(over="ignore", invalid="ignore"):
            too_long = ~(np.linalg.norm(shifted(mid), axis=1) <= radius)
        low = np.where(too_long, mid, low)
        high = np.where(too_long, high, mid)
    step_eig = shifted(high)
    step_eig = np.where(np.isfinite(step_eig), step_eig, 0.0)
    # hard case / indefinite H: fill up to the boundary along the lowest eigenvector
    extra = np.sqrt(np.maximum(radius**2 - np.sum(step_eig**2, axis=1), 0.0))
    sign = np.where(g_eig[:, 0] > 0, -1.0, 1.0)
    step_eig[:, 0] += np.where(lam_min < 0, sign * extra, 0.0)
    norm = np.linalg.norm(step_eig, axis=1)
    step_eig *= np.minimum(1.0, radius / np.maximum(norm, 1e-300))[:, None]
    step_eig = np.where(use_newton[:, None], newton_eig, step_eig)
    return np.einsum("apk,ak->ap", eigenvectors, step_eig), decrement


class BatchedTrustRegion:
    """The batched minimiser (see the module docstring).

    Parameters
    ----------
    evaluator : RowEvaluator
    space : ParameterSpace
    settings : TrustRegionSettings
    """

    def __init__(
        self, evaluator: RowEvaluator, space: ParameterSpace, settings: TrustRegionSettings
    ) -> None:
        self.evaluator = evaluator
        self.space = space
        self.settings = settings
        #: set to a list to record every iteration (diagnostics): dicts of numpy arrays
        self.history: list | None = None

    def _decrement(self, x, grad, hess, lower, upper, free) -> np.ndarray:
        """Newton decrement over the parameters that may move (inf if not pos. definite)."""
        p = x.shape[1]
        at_bound = ((x <= lower) & (grad > 0)) | ((x >= upper) & (grad < 0))
        move = (free[None, :] & ~at_bound).astype(np.float64)
        hm = np.nan_to_num(hess, nan=0.0) * move[:, :, None] * move[:, None, :]
        hm = hm + np.eye(p) * (1.0 - move)[:, None, :]
        _, dec = solve_trust_region(np.nan_to_num(grad) * move, hm, np.full(len(x), 1e150))
        return np.where(np.all(np.isfinite(hess), axis=(1, 2)), dec, np.inf)

    def _physical(self, centers: np.ndarray, u: np.ndarray, lower, upper) -> np.ndarray:
        physical = self.space.to_physical(centers, u)
        return self.space.project(physical, lower, upper).numpy()

    def minimize(
        self,
        tensors: dict,
        rows: np.ndarray,
        start: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        free: np.ndarray | None = None,
        max_iterations: int | None = None,
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
        free : [P] bool, optional
            Fit only these parameters (within the space's free ones); others stay fixed.
        max_iterations : int, optional
            Override of the settings' iteration limit.
        """
        s = self.settings
        if max_iterations is not None:
            s = replace(s, max_iterations=int(max_iterations))
        sp = self.space
        ev = self.evaluator
        rows = np.asarray(rows, dtype=np.int64)
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        r, p = np.shape(start)
        free = sp.free_mask if free is None else sp.free_mask & np.asarray(free, dtype=bool)
        x = np.asarray(start, dtype=np.float64).copy()
        x[:, free] = np.clip(x[:, free], lower[:, free], upper[:, free])

        loss, grad = ev(tensors, rows, x)
        loss0 = loss.copy()
        hess = np.full((r, p, p), np.nan)
        ok = np.isfinite(loss) & np.all(np.isfinite(grad), axis=1)
        status = np.where(ok, int(FitStatus.OK), int(FitStatus.NAN)).astype(np.int32)
        if ok.any():
            hess[ok] = ev.hessian(tensors, rows[ok], x[ok], s.hessian_step, free)
        radius = np.full(r, float(s.initial_radius))
        n_iter = np.zeros(r, dtype=np.int32)
        decrement = np.full(r, np.inf)
        done = ~ok
        eye = np.eye(p)
        age = np.zeros(r, dtype=np.int32)  # accepted steps since the Hessian was computed
        window = int(s.stall_iterations) + 1
        losses_seen = np.full((window, r), np.inf)  # ring buffer of the loss per iteration
        losses_seen[0] = loss

        for _ in range(int(s.max_iterations)):
            act = np.flatnonzero(~done)
            if act.size == 0:
                break
            xa, ga, ha = x[act], grad[act], hess[act]
            bad = ~(np.all(np.isfinite(ha), axis=(1, 2)) & np.all(np.isfinite(ga), axis=1))
            at_low = (xa <= lower[act]) & (ga > 0)
            at_high = (xa >= upper[act]) & (ga < 0)
            move = (free[None, :] & ~(at_low | at_high)).astype(np.float64)
            gm = np.where(bad[:, None], 0.0, ga * move)
            hm = np.where(
                bad[:, None, None],
                eye,
                np.nan_to_num(ha) * move[:, :, None] * move[:, None, :]
                + eye * (1.0 - move)[:, None, :],
            )
            step, dec = solve_trust_region(gm, hm, radius[act])
            step *= move
            decrement[act] = dec
            small = (dec < s.tolerance) & ~bad
            # converged only with a Hessian taken at this point; a stale one is refreshed first
            stale = small & (age[act] > 0)
            if stale.any():
                fresh = act[stale]
                hess[fresh] = ev.hessian(tensors, rows[fresh], x[fresh], s.hessian_step, free)
                age[fresh] = 0
            converged = small & ~stale
            status[act[bad]] = int(FitStatus.NAN)
            done[act[bad | converged]] = True
            go = ~(bad | small)
            idx = act[go]
            if idx.size == 0:
                continue
            step, gm, hm = step[go], gm[go], hm[go]
            trial = self._physical(x[idx], step, lower[idx], upper[idx])
            trial[:, ~free] = x[idx][:, ~free]
            f_trial, g_trial = ev(tensors, rows[idx], trial)
            predicted = -(
                np.sum(gm * step, axis=1) + 0.5 * np.einsum("ap,apq,aq->a", step, hm, step)
            )
            actual = loss[idx] - f_trial
            finite = np.isfinite(f_trial) & np.all(np.isfinite(g_trial), axis=1)
            ratio = np.where(predicted > 0, actual / np.maximum(predicted, 1e-300), -np.inf)
            accept = finite & (actual > 0) & (ratio > s.accept_ratio)
            step_norm = np.linalg.norm(step, axis=1)
            shrink = ~finite | (ratio < 0.25)
            grow = (ratio > 0.75) & (step_norm > 0.9 * radius[idx])
            radius[idx] = np.where(
                shrink,
                0.25 * np.minimum(step_norm, radius[idx]),
                np.where(grow, np.minimum(2.0 * radius[idx], s.max_radius), radius[idx]),
            )
            if self.history is not None:
                self.history.append(
                    {
                        "rows": idx.copy(),
                        "loss": loss[idx].copy(),
                        "decrement": decrement[idx].copy(),
                        "radius": radius[idx].copy(),
                        "ratio": ratio.copy(),
                        "actual": actual.copy(),
                        "predicted": predicted.copy(),
                        "step": step.copy(),
                        "accept": accept.copy(),
                    }
                )
            take = idx[accept]
            if take.size:
                x[take] = trial[accept]
                loss[take] = f_trial[accept]
                grad[take] = g_trial[accept]
                # a new Hessian where the quadratic model was poor, the step long, or the
                # Hessian s.hessian_refresh accepted steps old; else the last one is kept
                refresh = (
                    (ratio[accept] < 0.5)
                    | (step_norm[accept] > 1.0)
                    | (age[take] + 1 >= s.hessian_refresh)
                )
                new = take[refresh]
                if new.size:
                    hess[new] = ev.hessian(tensors, rows[new], x[new], s.hessian_step, free)
                age[new] = 0
                age[take[~refresh]] += 1
            n_iter[idx] += 1
            past = losses_seen[(n_iter[idx] - s.stall_iterations) % window, idx]
            stalled = (n_iter[idx] >= s.stall_iterations) & (past - loss[idx] < s.stall_tolerance)
            losses_seen[n_iter[idx] % window, idx] = loss[idx]
            done[idx[stalled]] = True
            stop = idx[
                ~stalled & ((radius[idx] < s.min_radius) | (n_iter[idx] >= s.max_iterations))
            ]
            if stop.size:
                decrement[stop] = self._decrement(
                    x[stop], grad[stop], hess[stop], lower[stop], upper[stop], free
                )
                loose = decrement[stop] < s.loose_tolerance
                status[stop[~loose]] = int(FitStatus.FAILED_MINIMIZATION)
                done[stop] = True
        return MinimizerResult(
            parameters=x,
            loss=loss,
            loss_start=loss0,
            num_iterations=n_iter,
            status=status,
            decrement=decrement,
            hessian=hess,
            hessian_current=np.all(np.isfinite(hess), axis=(1, 2))
            & (age == 0)
            & bool(np.array_equal(free, sp.free_mask)),
        )
