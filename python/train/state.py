"""The full training state as numpy arrays: model variables, optimizer variables, RNG state.

Keys in the checkpoint's ``variables.npz``: ``model/NNNN`` (``model.variables`` in order),
``optimizer/NNNN`` (``optimizer.variables`` in order: iteration count, Adam moments, ...) and
``rng/state`` (the trainer's ``tf.random.Generator``). The metadata records every variable's
name, shape and dtype; restoring checks them and names each mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from .checkpoint import Checkpoint, CheckpointError

__all__ = ["capture_state", "describe_variables", "restore_state", "restore_variables"]


def _name(var) -> str:
    return str(getattr(var, "path", None) or var.name)


def describe_variables(variables) -> list[dict[str, Any]]:
    """``[{name, shape, dtype}]`` of variables (recorded in the checkpoint metadata)."""
    return [
        {"name": _name(v), "shape": [int(d) for d in v.shape], "dtype": tf.as_dtype(v.dtype).name}
        for v in variables
    ]


def capture_state(
    model, optimizer=None, rng: tf.random.Generator | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of the current training state.

    Returns
    -------
    arrays : dict of str to np.ndarray
    meta : dict
        ``model_variables``, ``optimizer_variables`` (descriptions).
    """
    arrays: dict[str, np.ndarray] = {}
    for i, var in enumerate(model.variables):
        arrays[f"model/{i:04d}"] = var.numpy()
    meta: dict[str, Any] = {"model_variables": describe_variables(model.variables)}
    if optimizer is not None:
        for i, var in enumerate(optimizer.variables):
            arrays[f"optimizer/{i:04d}"] = np.asarray(var.numpy())
        meta["optimizer_variables"] = describe_variables(optimizer.variables)
    if rng is not None:
        arrays["rng/state"] = rng.state.numpy()
    return arrays, meta


def restore_variables(
    variables, arrays: Mapping[str, np.ndarray], prefix: str, source: str
) -> None:
    """Assign ``arrays[prefix/NNNN]`` to ``variables`` after checking count, shapes and dtypes.

    Raises
    ------
    CheckpointError
        Naming the checkpoint, the variable and what differs. Nothing is assigned then.
    """
    variables = list(variables)
    stored = sorted(k for k in arrays if k.startswith(prefix + "/"))
    if len(stored) != len(variables):
        raise CheckpointError(
            f"{source}: holds {len(stored)} {prefix} variables, the {prefix} has {len(variables)}"
        )
    problems = []
    for i, var in enumerate(variables):
        value = arrays[f"{prefix}/{i:04d}"]
        if tuple(value.shape) != tuple(var.shape):
            problems.append(
                f"{prefix} variable {i} ({_name(var)}): shape {tuple(value.shape)} in the "
                f"checkpoint, {tuple(var.shape)} in the {prefix}"
            )
        elif np.dtype(value.dtype) != np.dtype(tf.as_dtype(var.dtype).as_numpy_dtype):
            problems.append(
                f"{prefix} variable {i} ({_name(var)}): dtype {value.dtype} in the checkpoint, "
                f"{tf.as_dtype(var.dtype).name} in the {prefix}"
            )
    if problems:
        raise CheckpointError(f"{source}: does not match: " + "; ".join(problems))
    for i, var in enumerate(variables):
        var.assign(arrays[f"{prefix}/{i:04d}"])


def restore_state(
    checkpoint: Checkpoint, model, optimizer=None, rng: tf.random.Generator | None = None
) -> None:
    """Load a checkpoint into the model (and optimizer and RNG, when given).

    The optimizer must be built (its slot variables created) before restoring.
    """
    arrays = checkpoint.load_arrays()
    source = str(checkpoint.path)
    restore_variables(model.variables, arrays, "model", source)
    if optimizer is not None:
        restore_variables(optimizer.variables, arrays, "optimizer", source)
    if rng is not None:
        if "rng/state" not in arrays:
            raise CheckpointError(f"{source}: has no RNG state")
        rng.reset(tf.constant(arrays["rng/state"], dtype=rng.state.dtype))
