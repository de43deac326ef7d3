"""One optimisation step as a single tf.function: loss, regularisation, clipping, NaN guard.

The training objective of a batch is the weighted mean of the per-event loss,
``sum_i w_i L_i / sum_i w_i`` (``weights`` of the batch, 1 by default), plus the weight
penalties ``l1 * sum |W| + l2 * sum W^2``. The penalties apply to the *weights* of the model:
every trainable variable of rank >= 2 (dense kernels, embedding matrices). Biases, scales and
other rank-0/1 variables are not penalised.

Gradients are then (optionally) cleaned (``remove_nan_gradients``: non-finite entries set to 0),
clipped to a global norm (``clip_gradients_value``) and applied only when the loss and every
gradient entry are finite. A skipped step changes nothing (weights, optimizer moments and
iteration count stay as they were); the caller counts skipped steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import tensorflow as tf

__all__ = [
    "StepSettings",
    "batch_objective",
    "build_eval_step",
    "build_train_step",
    "clip_by_global_norm",
    "global_norm",
    "regularization_loss",
    "regularized_variables",
]


@dataclass(frozen=True)
class StepSettings:
    """What a train step does besides the plain gradient.

    Attributes
    ----------
    l1_regularization, l2_regularization : float
        Weight penalties (on variables of rank >= 2).
    clip_gradients_value : float or None
        Global-norm clipping threshold (None: no clipping).
    remove_nan_gradients : bool
        Replace non-finite gradient entries by 0 instead of skipping the step for them.
    jit_compile : bool
        Compile the step with XLA.
    """

    l1_regularization: float = 0.0
    l2_regularization: float = 0.0
    clip_gradients_value: float | None = None
    remove_nan_gradients: bool = False
    jit_compile: bool = False


def regularized_variables(variables) -> list[tf.Variable]:
    """The variables the L1/L2 penalties apply to: those of rank >= 2 (weights, not biases)."""
    return [v for v in variables if v.shape.rank is not None and v.shape.rank >= 2]


def regularization_loss(variables, l1: float, l2: float) -> tf.Tensor:
    """``l1 * sum|W| + l2 * sum W^2`` over :func:`regularized_variables`, as float64 scalar."""
    total = tf.constant(0.0, tf.float64)
    if l1 == 0.0 and l2 == 0.0:
        return total
    for var in regularized_variables(variables):
        value = tf.cast(var, tf.float64)
        if l1:
            total += l1 * tf.reduce_sum(tf.abs(value))
        if l2:
            total += l2 * tf.reduce_sum(tf.square(value))
    return total


LossFunction = Callable[
    [Mapping[str, tf.Tensor], Mapping], tuple[tf.Tensor, Mapping[str, tf.Tensor]]
]


def batch_objective(model, loss_module, batch: Mapping[str, tf.Tensor]):
    """Weighted mean loss of a batch and the weighted mean of each term.

    Parameters
    ----------
    model : callable
        ``model(parameters [B, P], batch) -> results``.
    loss_module : callable
        ``loss_module(batch, results) -> (totals [B], {term: [B]})``.
    batch : dict of tensors
        The batch (``parameters`` are the true parameters in physical units).

    Returns
    -------
    (tf.Tensor, dict of tf.Tensor)
        float64 scalar objective and float64 scalar per term.
    """
    results = model(batch["parameters"], batch)
    totals, terms = loss_module(batch, results)
    weights = tf.cast(batch["weights"], tf.float64)
    norm = tf.reduce_sum(weights)

    def mean(values):
        return tf.reduce_sum(weights * tf.cast(values, tf.float64)) / norm

    return mean(totals), {name: mean(value) for name, value in terms.items()}


def global_norm(tensors) -> tf.Tensor:
    """``sqrt(sum of squares)`` over tensors of mixed float dtypes, as float64."""
    total = tf.constant(0.0, tf.float64)
    for tensor in tensors:
        total += tf.reduce_sum(tf.square(tf.cast(tensor, tf.float64)))
    return tf.sqrt(total)


def clip_by_global_norm(tensors, clip_norm: float, norm: tf.Tensor) -> list[tf.Tensor]:
    """Scale all tensors by ``min(1, clip_norm / norm)`` (NaN norms give NaN, caught later)."""
    scale = tf.minimum(tf.constant(1.0, tf.float64), clip_norm / norm)
    return [tensor * tf.cast(scale, tensor.dtype) for tensor in tensors]


def _all_finite(tensors) -> tf.Tensor:
    ok = tf.constant(True)
    for tensor in tensors:
        ok = tf.logical_and(ok, tf.reduce_all(tf.math.is_finite(tensor)))
    return ok


def build_train_step(
    model,
    loss_module,
    optimizer: tf.keras.optimizers.Optimizer,
    signature: Mapping[str, tf.TensorSpec],
    settings: StepSettings,
):
    """The train step ``step(batch) -> dict`` traced once for the given input signature.

    The returned dict holds float64 scalars ``loss`` (data loss, before penalties),
    ``regularization``, ``grad_norm`` (global norm before clipping, NaN-cleaned), each term as
    ``term/<name>``, int32 ``removed_gradients`` (entries zeroed by ``remove_nan_gradients``)
    and bool ``applied``.
    """
    variables = list(model.trainable_variables)
    if not variables:
        raise ValueError("the model has no trainable variables")
    optimizer.build(variables)
    l1, l2 = float(settings.l1_regularization), float(settings.l2_regularization)
    clip = settings.clip_gradients_value

    @tf.function(input_signature=[dict(signature)], jit_compile=settings.jit_compile)
    def train_step(batch):
        with tf.GradientTape() as tape:
            loss, terms = batch_objective(model, loss_module, batch)
            penalty = regularization_loss(variables, l1, l2)
            objective = loss + penalty
        grads = tape.gradient(objective, variables)
        grads = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
            for g, v in zip(grads, variables, strict=True)
        ]
        removed = tf.constant(0, tf.int32)
        if settings.remove_nan_gradients:
            cleaned = []
            for g in grads:
                finite = tf.math.is_finite(g)
                removed += tf.reduce_sum(tf.cast(tf.logical_not(finite), tf.int32))
                cleaned.append(tf.where(finite, g, tf.zeros_like(g)))
            grads = cleaned
        grad_norm = global_norm(grads)
        if clip is not None:
            grads = clip_by_global_norm(grads, clip, grad_norm)
        ok = tf.logical_and(tf.math.is_finite(objective), _all_finite(grads))

        def apply():
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            return tf.constant(True)

        applied = tf.cond(ok, apply, lambda: tf.constant(False))
        out = {
            "loss": loss,
            "regularization": penalty,
            "grad_norm": grad_norm,
            "removed_gradients": removed,
            "applied": applied,
        }
        out.update({f"term/{name}": value for name, value in terms.items()})
        return out

    return train_step


def build_eval_step(model, loss_module, signature: Mapping[str, tf.TensorSpec], jit_compile=False):
    """``eval_step(batch) -> {loss, term/<name>}`` (float64 scalars), traced once."""

    @tf.function(input_signature=[dict(signature)], jit_compile=jit_compile)
    def eval_step(batch):
        loss, terms = batch_objective(model, loss_module, batch)
        out = {"loss": loss}
        out.update({f"term/{name}": value for name, value in terms.items()})
        return out

    return eval_step
