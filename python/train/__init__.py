"""egenerator.train: trainer, learning-rate schedules, checkpoints, logs.

Public entry points (imported lazily, so that ``import egenerator.train`` does not load
TensorFlow):

- :func:`train` (``egenerator train CONFIG``), :func:`prepare_config`, :func:`load_trained_model`
  from :mod:`.from_config`;
- :class:`Trainer`, :class:`TrainerSettings`, :class:`TrainingResult` from :mod:`.trainer`;
- :class:`PiecewiseSchedule`, :func:`build_learning_rate` from :mod:`.schedules`;
- :class:`CheckpointStore` from :mod:`.checkpoint`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "train": "from_config",
    "prepare_config": "from_config",
    "load_trained_model": "from_config",
    "Trainer": "trainer",
    "TrainerSettings": "trainer",
    "TrainingResult": "trainer",
    "PiecewiseSchedule": "schedules",
    "build_learning_rate": "schedules",
    "CheckpointStore": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
