"""Write an exported model folder (see :mod:`.format`) from a trained config."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..train.atomic import TEMP_PREFIX, atomic_directory, dump_yaml, fsync_directory
from ..train.provenance import git_commit, package_versions
from .format import (
    CONFIG_FILE,
    DETECTOR_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MANIFEST_KIND,
    MODEL_DIR,
    RECONSTRUCTION_FILE,
    TRAFO_DIR,
)

__all__ = ["ExportError", "export_model", "reconstruction_defaults"]


class ExportError(ValueError):
    """The export cannot be written (missing trafo or checkpoint, existing output folder)."""


def reconstruction_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """What reconstruction takes from the training config: ``reconstruction_settings`` and the
    ``I3ParticleMapping`` of ``model_manager_settings.config``."""
    return {
        "reconstruction_settings": dict(config.get("reconstruction_settings", {})),
        "I3ParticleMapping": dict(
            config.get("model_manager_settings", {}).get("config", {}).get("I3ParticleMapping", {})
        ),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def export_model(
    config: str | os.PathLike | Mapping[str, Any],
    output_dir: str | os.PathLike,
    checkpoint: str = "best",
    overwrite: bool = False,
    base_dir: str | os.PathLike | None = None,
) -> Path:
    """Export the trained model of a config into a self-contained folder.

    Parameters
    ----------
    config : path or mapping
        The training config (relative paths as in :mod:`egenerator.train.from_config`).
    output_dir : path
        The export folder to create.
    checkpoint : str
        ``"best"`` (lowest validation loss, falling back to the newest checkpoint), ``"latest"``
        or a checkpoint folder.
    overwrite : bool
        Replace an existing ``output_dir`` (only one holding an export or nothing).
    base_dir : path, optional
        Folder relative config paths refer to (default: the config file's folder).

    Returns
    -------
    Path
        The export folder. It is written under a temporary name and renamed when complete.

    Raises
    ------
    ExportError, egenerator.config.ConfigError, egenerator.train.checkpoint.CheckpointError
    """
    from ..data.trafo import TRAFO_YAML, DataTrafo
    from ..model.component_io import save_component
    from ..train.from_config import load_trained_model, prepare_config

    config = prepare_config(config, base_dir)
    output = Path(output_dir).resolve()
    if output.exists():
        if not overwrite:
            raise ExportError(f"{output}: exists already (pass overwrite / --overwrite)")
        if not output.is_dir() or (
            any(output.iterdir()) and not (output / MANIFEST_FILE).is_file()
        ):
            raise ExportError(
                f"{output}: exists and is not an egenerator export; refusing to replace it"
            )
    trafo_dir = Path(config["data_trafo_settings"]["model_dir"])
    if not (trafo_dir / TRAFO_YAML).is_file():
        raise ExportError(
            f"data_trafo_settings.model_dir: no trafo in {trafo_dir} (create it with "
            "`egenerator trafo CONFIG`)"
        )
    trafo = DataTrafo.load(trafo_dir)
    model, detector, chosen = load_trained_model(config, checkpoint)
    if list(trafo.parameter_names) != list(model.parameter_names):
        raise ExportError(
            f"{trafo_dir}: trafo parameters {list(trafo.parameter_names)} differ from the "
            f"model's {list(model.parameter_names)}; rebuild the trafo"
        )
    if trafo.num_doms != detector.num_doms:
        raise ExportError(
            f"{trafo_dir}: trafo has {trafo.num_doms} DOMs, the detector {detector.num_doms}"
        )
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": MANIFEST_KIND,
        "unique_name": config["unique_name"],
        "parameter_names": list(model.parameter_names),
        "num_doms": int(detector.num_doms),
        "checkpoint": {
            "path": str(chosen.path),
            "kind": chosen.kind,
            "step": int(chosen.step),
            "validation_loss": chosen.meta.get("validation_loss"),
        },
        "created_utc": _now(),
        "git_commit": git_commit(),
        "package_versions": package_versions(),
        "files": {
            "model": MODEL_DIR,
            "trafo": TRAFO_DIR,
            "detector": DETECTOR_FILE,
            "config": CONFIG_FILE,
            "reconstruction": RECONSTRUCTION_FILE,
        },
    }
    staging = output.parent / f"{TEMP_PREFIX}export-{output.name}"
    if staging.exists():
        shutil.rmtree(staging)
    with atomic_directory(staging) as temp:
        save_component(model, temp / MODEL_DIR)
        trafo.save(temp / TRAFO_DIR)
        detector.to_csv(temp / DETECTOR_FILE)
        (temp / CONFIG_FILE).write_text(dump_yaml(_plain(config)), encoding="utf-8")
        (temp / RECONSTRUCTION_FILE).write_text(
            dump_yaml(_plain(reconstruction_defaults(config))), encoding="utf-8"
        )
        (temp / MANIFEST_FILE).write_text(dump_yaml(_plain(manifest)), encoding="utf-8")
    # staging is complete; swap it in (the old export, if any, is removed only afterwards)
    old = None
    if output.exists():
        old = output.parent / f"{TEMP_PREFIX}old-{output.name}"
        if old.exists():
            shutil.rmtree(old)
        os.rename(output, old)
    os.rename(staging, output)
    fsync_directory(output.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return output


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
