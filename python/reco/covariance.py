"""Covariance matrices and circularised angular uncertainties from the Hessian at the best fit.

The Hessian of the negative log-likelihood is taken in the normalised chart centred at the best
fit (:mod:`egenerator.reco.parameter_space`; for a direction pair the two tangent-plane angles),
inverted over the fitted parameters, and carried to the reported parameters with the Jacobian
of the chart: ``C = J H^-1 J^T``. Reported parameters are the physical ones with log parameters
as their natural log (``log_energy``: ln(E / GeV)); fixed parameters have zero (co)variance.

Circularised angular uncertainty of a direction pair: with the 2 x 2 covariance ``T`` [rad^2]
of the tangent-plane angles (a along increasing zenith, b along increasing azimuth, b = sin(zen)
d azimuth),

    sigma_circ = sqrt(trace(T) / 2) = sqrt((sigma_zen^2 + sin^2(zen) sigma_az^2) / 2)

(the rms of the two principal standard deviations; independent of the basis). We also give the
geometric mean of the principal standard deviations, ``det(T)^(1/4)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .objective import RowEvaluator
from .parameter_space import POLE_GUARD_RAD, ParameterSpace


@dataclass
class CovarianceResult:
    """Per event (numpy).

    Attributes
    ----------
    covariance : [B, P, P]
        In :meth:`ParameterSpace.representation` (log parameters as ln); NaN where the Hessian
        is not finite. Where it is not positive definite (a minimum on a cusp of the
        likelihood) its eigenvalues are floored at ``MIN_EIGENVALUE_FRACTION`` of the largest
        first (``positive_definite`` False).
    names : tuple of str
        Names of the reported parameters (``log_<name>`` for log parameters).
    hessian : [B, P, P]
        Hessian in the normalised chart (fixed parameters: identity rows).
    positive_definite : [B] bool
    circular_uncertainty_rad : [B, K]
        ``sqrt(trace(T) / 2)`` per direction pair (K pairs).
    circular_uncertainty_det_rad : [B, K]
        ``det(T)^(1/4)`` per direction pair.
    runtime_s : float
    """

    covariance: np.ndarray
    names: tuple[str, ...]
    hessian: np.ndarray
    positive_definite: np.ndarray
    circular_uncertainty_rad: np.ndarray
    circular_uncertainty_det_rad: np.ndarray
    runtime_s: float = 0.0


#: Eigenvalue floor (relative to the largest) when the Hessian is not positive definite.
MIN_EIGENVALUE_FRACTION = 1e-6


def chart_jacobian(space: ParameterSpace, parameters: np.ndarray) -> np.ndarray:
    """d(reported parameters)/du [B, P, P] of the chart centred at ``parameters`` [B, P].

    The chart is diagonal at its centre: one unit of u is ``scale`` in every reported
    parameter (ln units for log parameters), except the azimuth of a direction pair, which moves
    by ``scale / sin(zenith)`` (the tangent offset b is an angle on the sphere).
    """
    parameters = np.asarray(parameters, dtype=np.float64)
    diag = np.repeat(space.scales[None], parameters.shape[0], axis=0)
    for i_zen, i_az in space.direction_pairs:
        zenith = np.clip(parameters[:, i_zen], POLE_GUARD_RAD, np.pi - POLE_GUARD_RAD)
        diag[:, i_az] = space.scales[i_az] / np.sin(zenith)
    diag = np.where(space.free_mask, diag, 0.0)
    return diag[:, :, None] * np.eye(space.num_parameters)[None]


class CovarianceEstimator:
    """Batched chart Hessians at given parameters (central differences of the gradients of
    the shared traced function).

    Parameters
    ----------
    evaluator : RowEvaluator
    space : ParameterSpace
    hessian_step : float
        Finite-difference step in normalised units.
    """

    def __init__(
        self, evaluator: RowEvaluator, space: ParameterSpace, hessian_step: float = 1e-2
    ) -> None:
        self.evaluator = evaluator
        self.space = space
        self.hessian_step = hessian_step

    def hessian(self, tensors: dict, rows: np.ndarray, parameters: np.ndarray) -> np.ndarray:
        """Chart Hessians [B, P, P] of the events ``rows`` of ``tensors`` at ``parameters``."""
        return self.evaluator.hessian(tensors, rows, parameters, self.hessian_step)

    def __call__(self, tensors: dict, rows: np.ndarray, parameters: np.ndarray) -> CovarianceResult:
        """Covariance of the events ``rows`` of ``tensors`` at ``parameters`` [B, P]."""
        return covariance_from_hessian(
            self.space, self.hessian(tensors, rows, parameters), parameters
        )


def covariance_from_hessian(
    space: ParameterSpace, hessian: np.ndarray, parameters: np.ndarray
) -> CovarianceResult:
    """Invert chart Hessians [B, P, P] (taken at ``parameters`` [B, P]) over the free parameters
    and map them to the reported ones."""
    hessian = np.asarray(hessian, dtype=np.float64)
    jacobian = chart_jacobian(space, parameters)
    b, p, _ = hessian.shape
    free = space.free_mask
    h_free = hessian[:, free][:, :, free]
    cov_u = np.full((b, p, p), np.nan)
    pd = np.zeros(b, dtype=bool)
    for k in range(b):
        if not np.all(np.isfinite(h_free[k])) or not h_free[k].size:
            continue
        eig, vec = np.linalg.eigh(h_free[k])
        top = np.abs(eig).max()
        if not top > 0:
            continue
        pd[k] = eig.min() > 1e-12 * top
        # not positive definite (a minimum on a cusp): eigenvalues floored at
        # MIN_EIGENVALUE_FRACTION of the largest, i.e. flat or curved-down directions get a
        # large but finite variance; flagged by positive_definite
        eig = np.maximum(eig, MIN_EIGENVALUE_FRACTION * top)
        inv = np.zeros((p, p))
        inv[np.ix_(free, free)] = (vec / eig) @ vec.T
        cov_u[k] = 0.5 * (inv + inv.T)
    cov = np.einsum("bij,bjk,blk->bil", jacobian, cov_u, jacobian)
    pairs = space.direction_pairs
    circ = np.full((b, len(pairs)), np.nan)
    circ_det = np.full((b, len(pairs)), np.nan)
    for k, (i_zen, i_az) in enumerate(pairs):
        scale = np.array([space.scales[i_zen], space.scales[i_az]])
        tangent = cov_u[:, [i_zen, i_az]][:, :, [i_zen, i_az]] * np.outer(scale, scale)
        circ[:, k] = np.sqrt(np.trace(tangent, axis1=1, axis2=2) / 2.0)
        with np.errstate(invalid="ignore"):
            det = np.linalg.det(np.nan_to_num(tangent, nan=0.0))
        circ_det[:, k] = np.where(
            np.isfinite(circ[:, k]), np.sqrt(np.sqrt(np.maximum(det, 0.0))), np.nan
        )
    return CovarianceResult(
        covariance=cov,
        names=space.representation_names(),
        hessian=hessian,
        positive_definite=pd,
        circular_uncertainty_rad=circ,
        circular_uncertainty_det_rad=circ_det,
    )
