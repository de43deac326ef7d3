"""Reconstruction results -> frame objects, with the names and contents of the hdf5 output.

Per physics frame (COMPAT.md section 5; the columns are those of
:mod:`egenerator.reco.output`, so an I3 file booked with hdfwriter and the output of
``egenerator reco`` hold the same numbers under the same names):

``<output_key>`` (I3MapStringDouble)
    every parameter's best fit, ``loss_reco``, ``loss_seed``, ``minimization_success``,
    ``fit_status`` (:class:`~egenerator.reco.status.FitStatus`, or
    :data:`INVALID_INPUT` for frames whose pulses could not be read), ``num_iterations``,
    ``best_seed``, ``runtime_<step>`` [s per event], and where computed ``circular_unc``,
    ``circular_unc_det`` [rad], ``covariance_positive_definite`` (1/0) and ``gof_pvalue``.
``<output_key>_I3Particle`` (I3Particle)
    filled through ``I3ParticleMapping``; zenith in [0, pi], azimuth in [0, 2 pi); ``fit_status``
    OK or the failure (MissingSeed, InsufficientHits, FailedToConverge, GeneralFailure).
``<output_key>_cov_matrix_cov`` (I3MapStringDouble)
    the upper triangle of the covariance, ``<pi>_<pj>``, log parameters as ``log_<name>``.

IceTray is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .hdf5_compat import import_hdf5_modules

import_hdf5_modules()  # before TensorFlow: see hdf5_compat

from ..reco.covariance import CovarianceResult  # noqa: E402
from ..reco.output import (  # noqa: E402
    covariance_columns,
    particle_columns,
    result_columns,
    uncertainty_columns,
)
from ..reco.reconstructor import FitResult  # noqa: E402

#: ``fit_status`` of frames whose pulses or exclusions could not be converted (extends
#: :class:`~egenerator.reco.status.FitStatus`; I3Particle status GeneralFailure).
INVALID_INPUT = 6

PARTICLE_SUFFIX = "_I3Particle"
COVARIANCE_SUFFIX = "_cov_matrix_cov"


def output_keys(output_key: str, covariance: bool) -> tuple[str, ...]:
    """Frame keys the module writes per physics frame."""
    keys = (output_key, output_key + PARTICLE_SUFFIX)
    return keys + ((output_key + COVARIANCE_SUFFIX,) if covariance else ())


def map_objects(columns: Mapping[str, np.ndarray]) -> list:
    """One I3MapStringDouble per row of float columns (all of equal length)."""
    from icecube import dataclasses

    names = list(columns)
    if not names:
        return []
    table = np.stack([np.asarray(columns[n], dtype=np.float64) for n in names], axis=1)
    out = []
    for row in table:
        value = dataclasses.I3MapStringDouble()
        for name, number in zip(names, row.tolist(), strict=True):
            value[name] = number
        out.append(value)
    return out


def _enum_value(enum, code: int, fallback):
    return enum.values.get(int(code), fallback)


def particle_objects(columns: Mapping[str, np.ndarray]) -> list:
    """One I3Particle per row of I3Particle columns (:func:`egenerator.reco.output.particle_columns`)."""
    from icecube import dataclasses
    from icecube.icetray import I3Units

    particle_class = dataclasses.I3Particle
    out = []
    for k in range(len(columns["x"])):
        particle = particle_class()
        particle.pos = dataclasses.I3Position(
            float(columns["x"][k]) * I3Units.m,
            float(columns["y"][k]) * I3Units.m,
            float(columns["z"][k]) * I3Units.m,
        )
        particle.dir = dataclasses.I3Direction(
            float(columns["zenith"][k]) * I3Units.rad, float(columns["azimuth"][k]) * I3Units.rad
        )
        particle.time = float(columns["time"][k]) * I3Units.ns
        particle.energy = float(columns["energy"][k]) * I3Units.GeV
        particle.speed = float(columns["speed"][k]) * I3Units.m / I3Units.ns
        particle.length = float(columns["length"][k]) * I3Units.m
        particle.pdg_encoding = int(columns["pdg_encoding"][k])
        particle.shape = _enum_value(
            particle_class.ParticleShape, columns["shape"][k], particle_class.ParticleShape.Null
        )
        particle.location_type = _enum_value(
            particle_class.LocationType,
            columns["location"][k],
            particle_class.LocationType.Anywhere,
        )
        particle.fit_status = _enum_value(
            particle_class.FitStatus,
            columns["fit_status"][k],
            particle_class.FitStatus.GeneralFailure,
        )
        out.append(particle)
    return out


def result_objects(
    fit: FitResult,
    parameter_names: Sequence[str],
    runtimes_s: Mapping[str, float] | None = None,
    covariance: CovarianceResult | None = None,
    gof_pvalue: np.ndarray | None = None,
    particle_mapping: Mapping[str, str] | None = None,
    write_covariance: bool = False,
) -> list[dict[str, object]]:
    """Per event: suffix -> frame object (``""`` the map, ``_I3Particle``, ``_cov_matrix_cov``).

    Parameters
    ----------
    fit : FitResult
        B events.
    parameter_names : sequence of str
    runtimes_s : mapping step -> seconds of the whole batch (divided by B per event)
    covariance : CovarianceResult, optional
        Adds ``covariance_positive_definite`` and ``circular_unc`` / ``circular_unc_det``
        (when the model has a direction).
    gof_pvalue : [B], optional
    particle_mapping : mapping I3Particle field -> parameter, optional
    write_covariance : bool
        Also the covariance map (needs ``covariance``).
    """
    extra = uncertainty_columns(covariance, gof_pvalue)  # as RecoOutputWriter.append
    maps = map_objects(result_columns(fit, parameter_names, runtimes_s, extra))
    particles = particle_objects(particle_columns(fit, parameter_names, particle_mapping))
    out = [{"": m, PARTICLE_SUFFIX: p} for m, p in zip(maps, particles, strict=True)]
    if write_covariance:
        if covariance is None:
            raise ValueError("write_covariance needs a covariance result")
        for entry, cov in zip(
            out,
            map_objects(covariance_columns(covariance.covariance, covariance.names)),
            strict=True,
        ):
            entry[COVARIANCE_SUFFIX] = cov
    return out


def write_results(
    frames: Sequence, output_key: str, objects: Sequence[Mapping[str, object]]
) -> None:
    """Put the objects of :func:`result_objects` into their frames under ``<output_key><suffix>``.

    Raises
    ------
    ValueError
        A frame already holds one of the keys.
    """
    if len(frames) != len(objects):
        raise ValueError(f"{len(frames)} frames for {len(objects)} results")
    for frame, entry in zip(frames, objects, strict=True):
        for suffix, value in entry.items():
            key = output_key + suffix
            if key in frame:
                raise ValueError(f"the frame already holds '{key}'; choose another output_key")
            frame[key] = value
