"""Training from a config: build detector, model, loss, optimizer and data streams; run.

Paths in a config file (``input_data`` globs, ``manager_dir``, the trafo ``model_dir``, a CSV
``detector_settings.geometry``, ``reco_output_file`` and ``load_dir`` of model nodes) may be
absolute or relative; relative paths are taken relative to the folder of the config file (for a
config given as a dict: to the working directory, or to ``base_dir`` when passed). ``~`` and
environment variables are expanded.

``training_settings`` keys beyond COMPAT.md: ``max_consecutive_nan_steps`` (10),
``keep_checkpoints`` (3), ``num_validation_batches`` (4: the fixed validation set is the first
batches of the seeded validation stream), ``jit_compile`` (false) and ``deterministic`` (true).

``jit_compile: true`` compiles the train step with XLA; batches are then padded to shape buckets
(:mod:`.padding`) so that XLA compiles once per bucket rather than once per batch. On CPU this
was measured slower than the default (demo config, batch 32: 0.5 s vs 0.22 s per step, plus
10-20 s of compilation per bucket), hence the default; try it on GPUs.

The training stream is the seeded pipeline of ``data_iterator_settings.training``; when it ends
(``pick_random_files_forever: false``) the next pass starts with seed ``seed + k * 1000003``. A
resume recreates the stream and skips the batches consumed so far.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .step import StepSettings
from .trainer import Trainer, TrainerSettings, TrainingResult, TrainingSetupError

__all__ = [
    "build_loss_module",
    "build_training_model",
    "load_trained_model",
    "prepare_config",
    "resolve_config_paths",
    "train",
    "trainer_settings",
]

DEFAULT_EXTRA_TRAINING_SETTINGS = {
    "max_consecutive_nan_steps": 10,
    "keep_checkpoints": 3,
    "num_validation_batches": 4,
    "jit_compile": False,
    "deterministic": True,
}

# stride between the seeds of consecutive passes over finite training data
_EPOCH_SEED_STRIDE = 1_000_003


def _resolve(path: str, base_dir: Path) -> str:
    expanded = os.path.expandvars(os.path.expanduser(path))
    if os.path.isabs(expanded):
        return os.path.normpath(expanded)
    return os.path.normpath(str(base_dir / expanded))


def _resolve_model_tree(node: Any, base_dir: Path) -> Any:
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if isinstance(out.get("load_dir"), str):
        out["load_dir"] = _resolve(out["load_dir"], base_dir)
    for key in ("children", "multi_source_bases"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _resolve_model_tree(v, base_dir) for k, v in out[key].items()}
    return out


def resolve_config_paths(config: Mapping[str, Any], base_dir: str | os.PathLike) -> dict:
    """A copy of a resolved config with every relative path made absolute against ``base_dir``."""
    base = Path(base_dir).resolve()
    config = copy.deepcopy(dict(config))
    for settings in config.get("data_iterator_settings", {}).values():
        if isinstance(settings, dict) and settings.get("input_data"):
            settings["input_data"] = [_resolve(p, base) for p in settings["input_data"]]
    manager = config.get("model_manager_settings", {}).get("config", {})
    if manager.get("manager_dir"):
        manager["manager_dir"] = _resolve(manager["manager_dir"], base)
    trafo = config.get("data_trafo_settings", {})
    if trafo.get("model_dir"):
        trafo["model_dir"] = _resolve(trafo["model_dir"], base)
    detector = config.get("detector_settings", {})
    if detector.get("geometry") and detector["geometry"] != "ic86_like":
        detector["geometry"] = _resolve(detector["geometry"], base)
    reco = config.get("reconstruction_settings", {})
    if reco.get("reco_output_file"):
        reco["reco_output_file"] = _resolve(reco["reco_output_file"], base)
    if config.get("model_settings"):
        config["model_settings"] = _resolve_model_tree(config["model_settings"], base)
    return config


def prepare_config(
    config: str | os.PathLike | Mapping[str, Any], base_dir: str | os.PathLike | None = None
) -> dict:
    """Load, validate and resolve a config (file or dict) with absolute paths.

    Raises
    ------
    egenerator.config.ConfigError
        Naming the file and every offending key path.
    """
    from ..config.loader import load_config

    if isinstance(config, Mapping):
        resolved = load_config(config)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        resolved = load_config(config)
        base = Path(base_dir) if base_dir is not None else Path(config).resolve().parent
    return resolve_config_paths(resolved, base)


def _training(config: Mapping[str, Any]) -> dict[str, Any]:
    settings = dict(DEFAULT_EXTRA_TRAINING_SETTINGS)
    settings.update(config["training_settings"])
    return settings


def trainer_settings(config: Mapping[str, Any]) -> TrainerSettings:
    """The :class:`TrainerSettings` of a resolved config."""
    training = _training(config)
    return TrainerSettings(
        num_training_iterations=int(training["num_training_iterations"]),
        validation_frequency=int(training["validation_frequency"]),
        save_frequency=int(training["save_frequency"]),
        log_frequency=int(training["evaluation_frequency"]),
        keep_checkpoints=int(training["keep_checkpoints"]),
        max_consecutive_nan_steps=int(training["max_consecutive_nan_steps"]),
        step=StepSettings(
            l1_regularization=float(training["l1_regularization"]),
            l2_regularization=float(training["l2_regularization"]),
            clip_gradients_value=training["clip_gradients_value"],
            remove_nan_gradients=bool(training["remove_nan_gradients"]),
            jit_compile=bool(training["jit_compile"]),
        ),
        deterministic=bool(training["deterministic"]),
        restore=bool(config["model_manager_settings"]["restore_model"]),
        seed=int(config.get("seed", 42)),
    )


def build_training_model(config: Mapping[str, Any], detector=None):
    """The (freshly initialised) model of a resolved config and its detector."""
    import tensorflow as tf

    from ..data.detector_config import detector_from_config
    from ..model.builder import build_model

    detector = detector if detector is not None else detector_from_config(config)
    if not config.get("model_settings"):
        raise TrainingSetupError("model_settings: missing or empty (the model to train)")
    tf.random.set_seed(int(config.get("seed", 42)))
    model = build_model(config["model_settings"], detector, key_path="model_settings")
    return model, detector


def build_loss_module(config: Mapping[str, Any]):
    """The loss of ``loss_module_settings``.

    ``training_settings.additional_loss_module_kwargs`` (if any) is merged into the ``config`` of
    every loss module (so its keys are checked like the module's own).
    """
    from ..loss import build_loss_module as build

    settings = config["loss_module_settings"]
    extra = config["training_settings"].get("additional_loss_module_kwargs") or {}
    if extra:
        settings = [
            {**entry, "config": {**(entry.get("config") or {}), **extra}} for entry in settings
        ]
    return build(settings, "loss_module_settings")


def _batch_converter(config):
    """EventBatch -> numpy dict; padded to shape buckets when the step is XLA-compiled."""
    from ..data.pipeline import batch_to_numpy
    from .padding import pad_batch

    if _training(config)["jit_compile"]:
        return lambda batch: pad_batch(batch_to_numpy(batch))
    return batch_to_numpy


def _training_batches(config, parameter_names, detector):
    """``make_batches(skip)``: the seeded training stream, passes chained, ``skip`` dropped."""
    from ..data.pipeline import pipeline_from_config

    seed = int(config.get("seed", 42))
    convert = _batch_converter(config)

    def generate(skip: int) -> Iterator[dict]:
        epoch = 0
        consumed = 0
        while True:
            pipeline = pipeline_from_config(
                config,
                "training",
                parameter_names,
                detector,
                seed=seed + _EPOCH_SEED_STRIDE * epoch,
            )
            produced = 0
            try:
                with pipeline.stream() as stream:
                    for batch in stream:
                        produced += 1
                        consumed += 1
                        if consumed > skip:
                            yield convert(batch)
            finally:
                pipeline.close()
            if produced == 0:
                raise TrainingSetupError(
                    "data_iterator_settings.training: the input files hold no events"
                )
            epoch += 1

    def make_batches(skip: int):
        import tensorflow as tf

        from ..data.tensors import tensor_signature

        signature = tensor_signature(detector.num_doms, len(parameter_names))
        prefetch = int(config["data_iterator_settings"]["training"]["batch_capacity"])
        dataset = tf.data.Dataset.from_generator(
            lambda: generate(skip), output_signature=signature
        ).prefetch(prefetch)
        return iter(dataset)

    return make_batches


def _validation_batches(config, parameter_names, detector) -> list[dict]:
    from ..data.pipeline import pipeline_from_config

    convert = _batch_converter(config)

    settings = config["data_iterator_settings"]["validation"]
    count = int(_training(config)["num_validation_batches"])
    if not settings["input_data"] or count == 0:
        return []
    batches = []
    with pipeline_from_config(config, "validation", parameter_names, detector) as pipeline:
        with pipeline.stream() as stream:
            for batch in stream:
                batches.append(convert(batch))
                if len(batches) >= count:
                    break
    return batches


def train(
    config: str | os.PathLike | Mapping[str, Any],
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    base_dir: str | os.PathLike | None = None,
) -> TrainingResult:
    """Train the model of a config (``egenerator train`` and ``resources/scripts/train.py``).

    Parameters
    ----------
    config : path or mapping
        The YAML config (or its parsed tree).
    steps : int, optional
        Total step count (overrides ``training_settings.num_training_iterations``).
    overwrite : bool
        Delete the checkpoints, logs and stage records of an earlier run in ``manager_dir``
        first (only with ``restore_model: False``).
    progress : bool
        Show the progress bar.
    base_dir : path, optional
        Folder relative paths refer to (default: the config file's folder).

    Returns
    -------
    TrainingResult
    """
    from ..data.tensors import tensor_signature
    from .optimizers import make_optimizer

    config = prepare_config(config, base_dir)
    settings = trainer_settings(config)
    manager_dir = Path(config["model_manager_settings"]["config"]["manager_dir"])
    if overwrite and not settings.restore:
        for sub in ("checkpoints", "logs", "stages"):
            shutil.rmtree(manager_dir / sub, ignore_errors=True)
    model, detector = build_training_model(config)
    parameter_names = list(model.parameter_names)
    from ..data.pipeline import DataPipelineError, expand_file_patterns

    for iterator in ("training", "validation"):
        patterns = config["data_iterator_settings"][iterator]["input_data"]
        if not patterns:
            if iterator == "training":
                raise TrainingSetupError(
                    "data_iterator_settings.training.input_data: no training files configured"
                )
            continue
        try:
            expand_file_patterns(patterns)
        except DataPipelineError as err:
            raise TrainingSetupError(
                f"data_iterator_settings.{iterator}.input_data: {err}"
            ) from None
    loss_module = build_loss_module(config)
    training = config["training_settings"]
    optimizer = make_optimizer(
        training["optimizer_name"], training["optimizer_settings"], "training_settings"
    )
    signature = tensor_signature(detector.num_doms, len(parameter_names))
    trainer = Trainer(model, loss_module, optimizer, signature, settings, manager_dir, config)
    make_batches = _training_batches(config, parameter_names, detector)
    validation = _validation_batches(config, parameter_names, detector)
    return trainer.fit(make_batches, validation, num_steps=steps, progress=progress)


def load_trained_model(config: Mapping[str, Any], checkpoint: str = "best"):
    """The model of a resolved config with the weights of one of its checkpoints.

    Parameters
    ----------
    config : mapping
        A config from :func:`prepare_config`.
    checkpoint : str
        ``"best"`` (lowest validation loss; the newest rolling checkpoint when there is no best
        one), ``"latest"``, or the path of a checkpoint folder.

    Returns
    -------
    (model, detector, Checkpoint)
    """
    from .checkpoint import CheckpointError, CheckpointStore, read_checkpoint
    from .state import restore_variables

    manager_dir = Path(config["model_manager_settings"]["config"]["manager_dir"])
    if checkpoint in ("best", "latest"):
        folder = manager_dir / "checkpoints"
        if not folder.is_dir():
            raise CheckpointError(
                f"{folder}: no checkpoints (train first: egenerator train CONFIG)"
            )
        store = CheckpointStore(folder)
        chosen = (store.best() if checkpoint == "best" else None) or store.latest()
        if chosen is None:
            raise CheckpointError(f"{folder}: no readable checkpoint")
    else:
        chosen = read_checkpoint(Path(checkpoint))
    model, detector = build_training_model(config)
    restore_variables(model.variables, chosen.load_arrays(), "model", str(chosen.path))
    return model, detector, chosen
