"""Reconstruction output in hdfwriter layout, with the table names of the old framework.

Per event (one row each, matched on Run/Event/SubEvent/SubEventStream like every hdfwriter table;
readable with ``pandas.read_hdf(path, key)``):

``<output_key>`` (an I3MapStringDouble: every column float64, keys sorted)
    every parameter's best fit (model names), ``loss_reco``, ``loss_seed``,
    ``minimization_success`` (1/0), ``fit_status`` (:class:`~egenerator.reco.status.FitStatus`),
    ``num_iterations``, ``best_seed``, ``runtime_<step>`` [s] (the batch's wall time of the step
    divided by its events), and where computed ``circular_unc`` / ``circular_unc_det`` [rad]
    (:mod:`egenerator.reco.covariance`), ``covariance_positive_definite`` (1/0: 0 where the
    Hessian's eigenvalues had to be floored) and ``gof_pvalue``.
``<output_key>_I3Particle``
    I3Particle columns filled through ``I3ParticleMapping`` (default: the parameter of each
    kind: x, y, z, time, zenith, azimuth, energy); zenith in [0, pi], azimuth in [0, 2 pi);
    ``fit_status`` as I3Particle::FitStatus.
``<output_key>_cov_matrix_cov``
    the upper triangle (with the diagonal) of the covariance, keys ``<pi>_<pj>`` in the model's
    parameter names, log-transformed parameters spelled ``log_<name>`` (ln of GeV).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ..io.schema import (
    LOCATION_INICE,
    PARTICLE_FIELDS,
    SPEED_OF_LIGHT_M_PER_NS,
    i3particle_columns,
    units_and_docs,
)
from ..io.writer import HdfwriterWriter
from .covariance import CovarianceResult
from .parameter_space import suffix_of
from .reconstructor import FitResult
from .status import FitStatus, to_i3particle_fit_status

PARTICLE_KINDS = ("x", "y", "z", "time", "zenith", "azimuth", "energy")


class OutputError(ValueError):
    """The output cannot be written as asked (bad particle mapping, inconsistent lengths)."""


def default_particle_mapping(parameter_names: Sequence[str]) -> dict[str, str]:
    """I3Particle field -> parameter: the first parameter of each kind (``time``/``t``)."""
    mapping = {}
    for kind in PARTICLE_KINDS:
        aliases = ("time", "t") if kind == "time" else (kind,)
        match = next((n for n in parameter_names if suffix_of(n) in aliases or n in aliases), None)
        if match is not None:
            mapping[kind] = match
    return mapping


def covariance_columns(covariance: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Upper-triangle columns ``<pi>_<pj>`` (i <= j) of covariances [B, P, P], keys sorted."""
    columns = {}
    p = len(names)
    for i in range(p):
        for j in range(i, p):
            columns[f"{names[i]}_{names[j]}"] = np.asarray(covariance[:, i, j], dtype=np.float64)
    return dict(sorted(columns.items()))


def uncertainty_columns(covariance=None, gof_pvalue=None) -> dict[str, np.ndarray]:
    """The result-map columns of a covariance (positive definiteness, circularised angular
    uncertainty of the first direction) and of a goodness of fit, where given."""
    extra: dict[str, np.ndarray] = {}
    if covariance is not None:
        extra["covariance_positive_definite"] = covariance.positive_definite
        if covariance.circular_uncertainty_rad.shape[1]:
            extra["circular_unc"] = covariance.circular_uncertainty_rad[:, 0]
            extra["circular_unc_det"] = covariance.circular_uncertainty_det_rad[:, 0]
    if gof_pvalue is not None:
        extra["gof_pvalue"] = gof_pvalue
    return extra


def result_columns(
    result: FitResult,
    parameter_names: Sequence[str],
    runtimes_s: Mapping[str, float] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Columns of ``<output_key>`` (float64, keys sorted like an I3MapStringDouble)."""
    b = result.num_events
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(parameter_names):
        cols[name] = result.parameters[:, i].astype(np.float64)
    cols["loss_reco"] = result.loss_reco.astype(np.float64)
    cols["loss_seed"] = result.loss_seed.astype(np.float64)
    cols["minimization_success"] = result.success.astype(np.float64)
    cols["fit_status"] = result.fit_status.astype(np.float64)
    cols["num_iterations"] = result.num_iterations.astype(np.float64)
    cols["best_seed"] = result.best_seed.astype(np.float64)
    for step, seconds in (runtimes_s or {}).items():
        cols[f"runtime_{step}"] = np.full(b, float(seconds) / max(b, 1))
    for key, values in (extra or {}).items():
        cols[key] = np.asarray(values, dtype=np.float64).reshape(b)
    clash = sorted(set(parameter_names) & {"loss_reco", "loss_seed", "fit_status"})
    if clash:
        raise OutputError(f"parameter names {clash} clash with output columns")
    return dict(sorted(cols.items()))


def particle_columns(
    result: FitResult,
    parameter_names: Sequence[str],
    mapping: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """I3Particle columns of the best fits (``mapping``: I3Particle field -> parameter)."""
    mapping = dict(mapping or default_particle_mapping(parameter_names))
    unknown_fields = sorted(set(mapping) - set(PARTICLE_KINDS))
    if unknown_fields:
        raise OutputError(
            f"I3ParticleMapping: fields {unknown_fields} are not I3Particle fields "
            f"{list(PARTICLE_KINDS)}"
        )
    b = result.num_events
    values = {}
    for kind in PARTICLE_KINDS:
        name = mapping.get(kind)
        if name is None:
            values[kind] = np.full(b, np.nan)
            continue
        if name not in parameter_names:
            raise OutputError(
                f"I3ParticleMapping: '{kind}' -> '{name}' is not a parameter of the model "
                f"{list(parameter_names)}"
            )
        values[kind] = result.parameters[:, list(parameter_names).index(name)]
    zen, az = values["zenith"], values["azimuth"]
    finite = np.isfinite(zen) & np.isfinite(az)
    vec = np.stack([np.sin(zen) * np.cos(az), np.sin(zen) * np.sin(az), np.cos(zen)], axis=-1)
    zen = np.where(finite, np.arctan2(np.hypot(vec[:, 0], vec[:, 1]), vec[:, 2]), zen)
    az = np.where(finite, np.mod(np.arctan2(vec[:, 1], vec[:, 0]), 2 * np.pi), az)
    az = np.where(az >= 2 * np.pi, 0.0, az)
    return i3particle_columns(
        values["x"],
        values["y"],
        values["z"],
        values["time"],
        zen,
        az,
        values["energy"],
        speed_m_per_ns=SPEED_OF_LIGHT_M_PER_NS,
        length_m=0.0,
        location=LOCATION_INICE,
        fit_status=to_i3particle_fit_status(result.fit_status),
    )


class RecoOutputWriter:
    """Appends reconstruction results batch by batch (context manager).

    Parameters
    ----------
    path : str or os.PathLike
        Output hdf5 file (overwritten).
    output_key : str
        Base name of the tables (old default ``EventGenerator``).
    parameter_names : sequence of str
    particle_mapping : mapping, optional
        ``I3ParticleMapping`` (I3Particle field -> parameter name).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        output_key: str,
        parameter_names: Sequence[str],
        particle_mapping: Mapping[str, str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.output_key = output_key
        self.parameter_names = tuple(parameter_names)
        self.particle_mapping = dict(particle_mapping or {}) or None
        self.writer = HdfwriterWriter(self.path, mode="w")

    def __enter__(self) -> RecoOutputWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.writer.close()

    def append(
        self,
        event_ids: np.ndarray,
        result: FitResult,
        runtimes_s: Mapping[str, float] | None = None,
        covariance: CovarianceResult | None = None,
        gof_pvalue: np.ndarray | None = None,
    ) -> None:
        """Write the rows of one batch to every table."""
        ids = np.asarray(event_ids, dtype=np.int64).reshape(-1, 4)
        if ids.shape[0] != result.num_events:
            raise OutputError(
                f"{self.path}: {ids.shape[0]} event ids for {result.num_events} results"
            )
        extra = uncertainty_columns(covariance, gof_pvalue)
        columns = result_columns(result, self.parameter_names, runtimes_s, extra)
        self.writer.append_event_table(self.output_key, ids, columns)
        units, docs = units_and_docs(PARTICLE_FIELDS)
        self.writer.append_event_table(
            f"{self.output_key}_I3Particle",
            ids,
            particle_columns(result, self.parameter_names, self.particle_mapping),
            units=units,
            docs=docs,
        )
        if covariance is not None:
            self.writer.append_event_table(
                f"{self.output_key}_cov_matrix_cov",
                ids,
                covariance_columns(covariance.covariance, covariance.names),
            )

    def copy_table(
        self,
        name: str,
        event_ids: np.ndarray,
        columns: Mapping[str, np.ndarray],
        exists: np.ndarray | None = None,
    ) -> None:
        """Write a one-row-per-event table (e.g. the truth ``MCCascade``) for these events."""
        self.writer.append_event_table(name, event_ids, columns, exists=exists)


__all__ = [
    "FitStatus",
    "OutputError",
    "RecoOutputWriter",
    "covariance_columns",
    "default_particle_mapping",
    "particle_columns",
    "result_columns",
]
