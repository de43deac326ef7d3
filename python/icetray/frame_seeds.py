"""Seeds of the reconstruction from frame objects: I3Particle or I3MapStringDouble.

An ``I3Particle`` offers the columns ``x, y, z, time, zenith, azimuth, energy`` (m, ns, rad,
GeV); an ``I3MapStringDouble`` (labels, a previous egenerator fit) offers its keys. Columns are
matched to the model's parameters with the rules of the standalone reconstruction
(:func:`egenerator.reco.seeds.seed_columns`: explicit ``seed_parameter_names``, the name itself,
``time`` <-> ``t``, the kind without the source prefix, the unique ``*_<kind>`` column), so an
I3 file and its hdfwriter copy give identical seeds. Parameters without a column get the
missing-value rule; a seed key absent from the frame gives a NaN row (the fit then reports
``MISSING_SEED`` unless another seed is usable). IceTray is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .hdf5_compat import import_hdf5_modules

import_hdf5_modules()  # before TensorFlow: see hdf5_compat

from ..reco.seeds import seed_columns  # noqa: E402

PARTICLE_SEED_COLUMNS = ("x", "y", "z", "time", "zenith", "azimuth", "energy")


class FrameSeedError(ValueError):
    """A seed object of a frame cannot be read (wrong type)."""


def seed_values(value, key: str) -> dict[str, float]:
    """Named values of a seed frame object.

    Parameters
    ----------
    value : icecube.dataclasses.I3Particle or icecube.dataclasses.I3MapStringDouble
    key : str
        Its frame key (for messages).
    """
    from icecube import dataclasses
    from icecube.icetray import I3Units

    if isinstance(value, dataclasses.I3Particle):
        return {
            "x": value.pos.x / I3Units.m,
            "y": value.pos.y / I3Units.m,
            "z": value.pos.z / I3Units.m,
            "time": value.time / I3Units.ns,
            "zenith": value.dir.zenith / I3Units.rad,
            "azimuth": value.dir.azimuth / I3Units.rad,
            "energy": value.energy / I3Units.GeV,
        }
    if isinstance(value, dataclasses.I3MapStringDouble):
        return {str(k): float(v) for k, v in value.items()}
    raise FrameSeedError(
        f"seed key '{key}' holds a {type(value).__name__}, expected I3Particle or I3MapStringDouble"
    )


class FrameSeedReader:
    """Reads one seed per seed key from a frame.

    Parameters
    ----------
    keys : sequence of str
        Frame keys of the seeds (one seed each, in this order).
    parameter_names : sequence of str
        The model's parameters.
    seed_parameter_names : sequence of str, optional
        Explicit column per parameter (in parameter order; empty entries use the rules).
    missing_value : float or None
        Value of parameters that a seed object lacks; None: such a seed is unusable (NaN row).
    missing_value_dict : mapping name -> float, optional
        Per-parameter values overriding ``missing_value``.
    """

    def __init__(
        self,
        keys: Sequence[str],
        parameter_names: Sequence[str],
        seed_parameter_names: Sequence[str] | None = None,
        missing_value: float | None = 1.0,
        missing_value_dict: Mapping[str, float] | None = None,
    ) -> None:
        self.keys = tuple(keys)
        self.parameter_names = tuple(parameter_names)
        self.seed_parameter_names = list(seed_parameter_names or [])
        self.missing_value = missing_value
        self.missing_value_dict = dict(missing_value_dict or {})
        unknown = sorted(set(self.missing_value_dict) - set(self.parameter_names))
        if unknown:
            raise FrameSeedError(
                f"missing_seed_value_dict names {unknown}, not parameters of the model "
                f"{list(self.parameter_names)}"
            )
        self._mappings: dict[tuple[str, ...], list[str | None]] = {}

    def _mapping(self, columns: tuple[str, ...]) -> list[str | None]:
        mapping = self._mappings.get(columns)
        if mapping is None:
            mapping = seed_columns(self.parameter_names, columns, self.seed_parameter_names)
            self._mappings[columns] = mapping
        return mapping

    def row(self, values: Mapping[str, float], key: str) -> tuple[np.ndarray, str | None]:
        """Seed [P] from named values; NaN (and a reason) when a parameter has no value."""
        mapping = self._mapping(tuple(sorted(values)))
        out = np.full(len(self.parameter_names), np.nan)
        for i, (name, column) in enumerate(zip(self.parameter_names, mapping, strict=True)):
            if column is not None:
                out[i] = values[column]
                continue
            value = self.missing_value_dict.get(name, self.missing_value)
            if value is None:
                return np.full(len(self.parameter_names), np.nan), (
                    f"seed key '{key}' has no value for parameter '{name}' and no "
                    f"missing_seed_value is set; it has {sorted(values)}"
                )
            out[i] = float(value)
        return out, None

    def read(self, frame) -> tuple[np.ndarray, list[str]]:
        """Seeds [K, P] of a frame (NaN rows where a key is missing or unusable) and the
        reasons of the unusable ones."""
        seeds = np.full((len(self.keys), len(self.parameter_names)), np.nan)
        problems: list[str] = []
        for k, key in enumerate(self.keys):
            if key not in frame:
                problems.append(f"seed key '{key}' not in the frame")
                continue
            try:
                values = seed_values(frame[key], key)
            except FrameSeedError as error:
                problems.append(str(error))
                continue
            seeds[k], problem = self.row(values, key)
            if problem is not None:
                problems.append(problem)
        return seeds, problems
