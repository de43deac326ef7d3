"""The optimizer of ``training_settings``: a tf.keras optimizer by name with its settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from .schedules import build_learning_rate

__all__ = ["OPTIMIZER_NAMES", "OptimizerConfigError", "make_optimizer"]

# tf.keras optimizer classes that may be named (case-insensitive); nothing else is looked up.
OPTIMIZER_NAMES = (
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "SGD",
    "Ftrl",
    "Lion",
)


class OptimizerConfigError(ValueError):
    """The optimizer name or one of its settings is not accepted; the message names the key."""


def make_optimizer(
    name: str,
    settings: Mapping[str, Any] | None = None,
    key_path: str = "training_settings",
) -> tf.keras.optimizers.Optimizer:
    """Create a tf.keras optimizer.

    Parameters
    ----------
    name : str
        Class name, optionally dotted (``Adam``, ``tf.keras.optimizers.Adam``); one of
        :data:`OPTIMIZER_NAMES`, case-insensitive.
    settings : mapping, optional
        Keyword arguments of the optimizer (e.g. ``amsgrad``, ``epsilon``, ``beta_1``);
        ``learning_rate`` may be a number or a schedule (see :mod:`.schedules`).
    key_path : str
        Config path of the training settings, for error messages.

    Returns
    -------
    tf.keras.optimizers.Optimizer
    """
    if not isinstance(name, str):
        raise OptimizerConfigError(f"{key_path}.optimizer_name: expected a string, got {name!r}")
    short = name.rsplit(".", 1)[-1]
    lookup = {n.lower(): n for n in OPTIMIZER_NAMES}
    if short.lower() not in lookup:
        raise OptimizerConfigError(
            f"{key_path}.optimizer_name: unknown optimizer {name!r} "
            f"(allowed: {', '.join(OPTIMIZER_NAMES)})"
        )
    cls = getattr(tf.keras.optimizers, lookup[short.lower()])
    kwargs = dict(settings or {})
    settings_path = f"{key_path}.optimizer_settings"
    if "learning_rate" in kwargs:
        kwargs["learning_rate"] = build_learning_rate(
            kwargs["learning_rate"], f"{settings_path}.learning_rate"
        )
    for key in ("clipnorm", "clipvalue", "global_clipnorm"):
        if kwargs.get(key) is not None:
            raise OptimizerConfigError(
                f"{settings_path}.{key}: use training_settings.clip_gradients_value instead "
                "(clipping is done by the trainer, before the NaN check)"
            )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise OptimizerConfigError(f"{settings_path}: invalid for {cls.__name__}: {err}") from err
