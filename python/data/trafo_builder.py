"""Build the trafo of a config: read ``data_trafo_settings.num_batches`` batches, save it.

Used by ``egenerator trafo CONFIG`` and ``resources/scripts/create_trafo_model.py CONFIG``.
Relative paths of a config file (``input_data`` globs, ``data_trafo_settings.model_dir``, a CSV
geometry) are taken relative to the config's folder, as the trainer does; for a config given
as a mapping they are relative to the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .. import CASCADE_PARAMETER_NAMES
from ..config.loader import load_config
from ..io.reader import HdfwriterFile
from .detector_config import detector_from_config
from .errors import EventDataError
from .pipeline import expand_file_patterns, pipeline_from_config
from .trafo import DataTrafo, TrafoError

_INDEX_COLUMNS = ("Run", "Event", "SubEvent", "SubEventStream", "exists")


def model_parameter_names(config: Mapping, detector) -> list[str] | None:
    """Parameter names of the config's model, from ``egenerator.model.builder.build_model``.

    Returns None when ``model_settings`` is empty or the builder is not available.
    """
    if not config.get("model_settings"):
        return None
    try:
        from ..model.builder import build_model
    except ImportError:
        return None
    model = build_model(config["model_settings"], detector)
    return list(model.parameter_names)


def label_parameter_names(config: Mapping, files: Sequence[str]) -> list[str]:
    """Parameter names from the label table columns of the first file.

    Every non-index column except ``additional_labels``; ``<prefix>_t`` is named
    ``<prefix>_time``; cascade parameters come first in the order x, y, z, zenith, azimuth,
    energy, time, other columns follow in file order.
    """
    labels = config["data_handler_settings"]["label_settings"]
    table = labels["label_key"]
    with HdfwriterFile(files[0]) as hfile:
        if not hfile.has_table(table):
            raise EventDataError(f"{files[0]}: label table '{table}' is missing")
        columns = [c for c in hfile.columns(table) if c not in _INDEX_COLUMNS]
    columns = [c for c in columns if c not in labels["additional_labels"]]
    names = [c[:-2] + "_time" if c.endswith("_t") else ("time" if c == "t" else c) for c in columns]

    def split(name: str) -> tuple[str, str] | None:
        if name in CASCADE_PARAMETER_NAMES:
            return "", name
        prefix, _, base = name.rpartition("_")
        return (prefix, base) if prefix and base in CASCADE_PARAMETER_NAMES else None

    prefixes = list(dict.fromkeys(p[0] for p in map(split, names) if p is not None))

    def rank(item: tuple[int, str]) -> tuple[int, int, int]:
        position, name = item
        parts = split(name)
        if parts is None:
            return (1, position, 0)
        return (0, prefixes.index(parts[0]), CASCADE_PARAMETER_NAMES.index(parts[1]))

    return [name for _, name in sorted(enumerate(names), key=rank)]


def _resolve(path: str, base: str) -> str:
    expanded = os.path.expandvars(os.path.expanduser(path))
    return os.path.normpath(expanded if os.path.isabs(expanded) else os.path.join(base, expanded))


def load_with_paths(config: Mapping | str | os.PathLike) -> dict:
    """Load (validate) a config; a file's relative paths become relative to its folder."""
    resolved = load_config(config)
    if not isinstance(config, Mapping):
        base = os.path.dirname(os.path.abspath(os.fspath(config)))
        for settings in resolved["data_iterator_settings"].values():
            settings["input_data"] = [_resolve(p, base) for p in settings["input_data"]]
        trafo = resolved["data_trafo_settings"]
        trafo["model_dir"] = _resolve(trafo["model_dir"], base)
        detector = resolved["detector_settings"]
        if detector["geometry"] != "ic86_like":
            detector["geometry"] = _resolve(detector["geometry"], base)
    return resolved


def build_trafo(
    config: Mapping | str | os.PathLike, parameter_names: Sequence[str] | None = None
) -> DataTrafo:
    """Compute the trafo of a config (path or resolved/raw mapping).

    Parameter names: ``parameter_names`` if given, else the model's (via the model builder),
    else the label table's columns (:func:`label_parameter_names`).
    """
    config = load_with_paths(config)
    settings = config["data_trafo_settings"]
    detector = detector_from_config(config)
    names = list(parameter_names) if parameter_names else model_parameter_names(config, detector)
    if not names:
        files = expand_file_patterns(config["data_iterator_settings"]["trafo"]["input_data"] or [])
        names = label_parameter_names(config, files)
    with pipeline_from_config(config, "trafo", names, detector) as pipeline:
        with pipeline.stream() as stream:
            trafo = DataTrafo.from_batches(
                stream,
                names,
                trafo_log=config["data_handler_settings"]["label_settings"]["trafo_log"],
                norm_constant=settings["norm_constant"],
                num_batches=settings["num_batches"],
                settings={**settings, "unique_name": config["unique_name"]},
            )
    if trafo.num_doms != detector.num_doms:
        raise TrafoError(f"trafo: {trafo.num_doms} DOMs, detector has {detector.num_doms}")
    return trafo


def create_trafo_model(
    config: Mapping | str | os.PathLike,
    parameter_names: Sequence[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> tuple[DataTrafo, str]:
    """Build the trafo of a config and save it to ``data_trafo_settings.model_dir``.

    Returns the trafo and the directory it was written to.
    """
    config = load_with_paths(config)
    trafo = build_trafo(config, parameter_names)
    directory = os.fspath(output_dir or config["data_trafo_settings"]["model_dir"])
    trafo.save(directory, overwrite=overwrite)
    return trafo, directory
