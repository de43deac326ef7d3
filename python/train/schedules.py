"""Learning-rate schedules: a constant, a multi-phase piecewise schedule, or a Keras schedule.

Config forms accepted for ``training_settings.optimizer_settings.learning_rate``:

1. A number: a constant learning rate, e.g. ``learning_rate: 0.001``.

2. The piecewise form (our native form)::

       learning_rate:
         schedule: piecewise
         phases:
           - {steps: 10000, start: 0.01, end: 0.001, decay: linear}
           - {steps: 490000, value: 0.001}
           - {steps: 500000, start: 0.001, end: 1.0e-6, decay: polynomial, power: 2}

   Phase k covers the optimizer steps ``[b_k, b_k + steps_k)`` with ``b_0 = 0``. With the local
   fraction ``f = (step - b_k) / steps_k`` a phase gives:

   - ``value: v`` (or ``decay: constant``): ``v``;
   - ``decay: linear``: ``start + (end - start) f``;
   - ``decay: polynomial`` (``power`` p, default 1): ``(start - end) (1 - f)^p + end``
     (the convention of ``tf.keras.optimizers.schedules.PolynomialDecay``);
   - ``decay: exponential``: ``start (end / start)^f`` (start and end > 0);
   - ``decay: cosine``: ``end + (start - end) (1 + cos(pi f)) / 2``.

   After the last phase the rate stays at the last phase's final value. The step is the
   optimizer's iteration count (updates applied; steps skipped by the NaN guard do not count).

3. A Keras schedule, the form older configs use::

       learning_rate:
         class_name: PolynomialDecay          # or full_class_string: tf.keras...PolynomialDecay
         config: {initial_learning_rate: 0.01, decay_steps: 10000, end_learning_rate: 0.001}

   ``settings`` is accepted instead of ``config``. Allowed classes: PolynomialDecay,
   PiecewiseConstantDecay, ExponentialDecay, InverseTimeDecay, CosineDecay (the Keras classes of
   those names are instantiated with the given keyword arguments; nothing else is imported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

__all__ = [
    "PiecewiseSchedule",
    "ScheduleConfigError",
    "build_learning_rate",
    "learning_rate_value",
]

_DECAY_CODES = {"constant": 0, "linear": 1, "polynomial": 2, "exponential": 3, "cosine": 4}
_KERAS_SCHEDULES = (
    "PolynomialDecay",
    "PiecewiseConstantDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "CosineDecay",
)


class ScheduleConfigError(ValueError):
    """A learning-rate specification is malformed; the message names the key path."""


def _number(value: Any, key_path: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleConfigError(f"{key_path}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "> 0" if positive else ">= 0"
        raise ScheduleConfigError(f"{key_path}: expected a finite number {need}, got {value!r}")
    return value


def _normalise_phase(phase: Any, key_path: str) -> dict[str, Any]:
    """Check one phase and return it in canonical form {steps, start, end, decay, power}."""
    if not isinstance(phase, Mapping):
        raise ScheduleConfigError(f"{key_path}: a phase must be a mapping, got {phase!r}")
    allowed = {"steps", "value", "start", "end", "decay", "power"}
    unknown = sorted(set(phase) - allowed)
    if unknown:
        raise ScheduleConfigError(
            f"{key_path}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})"
        )
    if "steps" not in phase:
        raise ScheduleConfigError(f"{key_path}.steps: missing")
    steps = phase["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ScheduleConfigError(f"{key_path}.steps: expected an integer > 0, got {steps!r}")
    decay = phase.get("decay", "constant" if "value" in phase else None)
    if decay is None:
        raise ScheduleConfigError(f"{key_path}: give either 'value' or 'start', 'end' and 'decay'")
    if decay not in _DECAY_CODES:
        raise ScheduleConfigError(
            f"{key_path}.decay: unknown decay {decay!r} (allowed: {', '.join(_DECAY_CODES)})"
        )
    if decay == "constant":
        if "value" not in phase:
            raise ScheduleConfigError(f"{key_path}.value: missing for a constant phase")
        if "start" in phase or "end" in phase:
            raise ScheduleConfigError(f"{key_path}: a constant phase takes 'value', not start/end")
        value = _number(phase["value"], f"{key_path}.value")
        start = end = value
    else:
        if "value" in phase:
            raise ScheduleConfigError(f"{key_path}.value: not allowed with decay {decay!r}")
        for key in ("start", "end"):
            if key not in phase:
                raise ScheduleConfigError(f"{key_path}.{key}: missing for decay {decay!r}")
        positive = decay == "exponential"
        start = _number(phase["start"], f"{key_path}.start", positive)
        end = _number(phase["end"], f"{key_path}.end", positive)
    power = 1.0
    if "power" in phase:
        if decay != "polynomial":
            raise ScheduleConfigError(f"{key_path}.power: only for decay 'polynomial'")
        power = _number(phase["power"], f"{key_path}.power", positive=True)
    return {"steps": int(steps), "start": start, "end": end, "decay": decay, "power": power}


@tf.keras.utils.register_keras_serializable(package="egenerator")
class PiecewiseSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate made of consecutive phases (constant, linear, polynomial, ...).

    Parameters
    ----------
    phases : sequence of mappings
        The phases in order, in the config form of this module's docstring.
    key_path : str
        Where the phases come from, for error messages.

    Notes
    -----
    The value is computed in float64 and returned as float32. The computation is vectorised
    over phases (no Python branching on the step), so it traces once and compiles with XLA.
    """

    def __init__(self, phases: Sequence[Mapping[str, Any]], key_path: str = "phases"):
        super().__init__()
        if isinstance(phases, (str, bytes)) or not isinstance(phases, Sequence) or not phases:
            raise ScheduleConfigError(f"{key_path}: expected a non-empty list of phases")
        self.phases = [_normalise_phase(p, f"{key_path}[{i}]") for i, p in enumerate(phases)]
        boundaries = [0]
        for phase in self.phases:
            boundaries.append(boundaries[-1] + phase["steps"])
        self.boundaries = tuple(boundaries)

    @property
    def total_steps(self) -> int:
        """Steps covered by the phases (after them the rate stays at its last value)."""
        return self.boundaries[-1]

    def __call__(self, step):
        step = tf.cast(step, tf.float64)
        begin = tf.constant(self.boundaries[:-1], tf.float64)
        length = tf.constant([p["steps"] for p in self.phases], tf.float64)
        start = tf.constant([p["start"] for p in self.phases], tf.float64)
        end = tf.constant([p["end"] for p in self.phases], tf.float64)
        power = tf.constant([p["power"] for p in self.phases], tf.float64)
        code = tf.constant([_DECAY_CODES[p["decay"]] for p in self.phases], tf.int32)
        # Index of the active phase: the number of phase starts <= step, minus one.
        index = tf.reduce_sum(tf.cast(begin[1:] <= step, tf.int32))
        frac = tf.clip_by_value((step - begin[index]) / length[index], 0.0, 1.0)
        s, e = start[index], end[index]
        safe_s = tf.where(s > 0, s, 1.0)
        safe_e = tf.where(e > 0, e, 1.0)
        candidates = tf.stack(
            [
                s,
                s + (e - s) * frac,
                (s - e) * tf.pow(1.0 - frac, power[index]) + e,
                safe_s * tf.pow(safe_e / safe_s, frac),
                e + (s - e) * 0.5 * (1.0 + tf.cos(math.pi * frac)),
            ]
        )
        return tf.cast(candidates[code[index]], tf.float32)

    def get_config(self) -> dict[str, Any]:
        return {"phases": [self._phase_config(p) for p in self.phases]}

    @staticmethod
    def _phase_config(phase: Mapping[str, Any]) -> dict[str, Any]:
        if phase["decay"] == "constant":
            return {"steps": phase["steps"], "value": phase["start"]}
        out = {
            "steps": phase["steps"],
            "start": phase["start"],
            "end": phase["end"],
            "decay": phase["decay"],
        }
        if phase["decay"] == "polynomial":
            out["power"] = phase["power"]
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PiecewiseSchedule:
        return cls(config["phases"])

    def to_spec(self) -> dict[str, Any]:
        """The config form (``{schedule: piecewise, phases: [...]}``) of this schedule."""
        return {"schedule": "piecewise", **self.get_config()}


def _keras_schedule(spec: Mapping[str, Any], key_path: str):
    class_key = "class_name" if "class_name" in spec else "full_class_string"
    class_string = spec[class_key]
    if not isinstance(class_string, str):
        raise ScheduleConfigError(f"{key_path}.{class_key}: expected a class name string")
    name = class_string.rsplit(".", 1)[-1]
    if name not in _KERAS_SCHEDULES:
        raise ScheduleConfigError(
            f"{key_path}.{class_key}: unsupported schedule {class_string!r} "
            f"(allowed: {', '.join(_KERAS_SCHEDULES)}, or 'schedule: piecewise')"
        )
    kwargs_key = "config" if "config" in spec else "settings"
    unknown = sorted(set(spec) - {class_key, kwargs_key})
    if unknown:
        raise ScheduleConfigError(f"{key_path}.{unknown[0]}: unknown key")
    kwargs = spec.get(kwargs_key, {}) or {}
    if not isinstance(kwargs, Mapping):
        raise ScheduleConfigError(f"{key_path}.{kwargs_key}: expected a mapping")
    kwargs = {k: v for k, v in kwargs.items() if k != "name"}
    cls = getattr(tf.keras.optimizers.schedules, name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ScheduleConfigError(
            f"{key_path}.{kwargs_key}: invalid arguments for {name}: {err}"
        ) from err


def build_learning_rate(spec: Any, key_path: str = "learning_rate"):
    """Turn a learning-rate config value into a float or a Keras ``LearningRateSchedule``.

    Parameters
    ----------
    spec : float | mapping
        One of the forms of this module's docstring.
    key_path : str
        The config key path of ``spec``, used in error messages.

    Returns
    -------
    float or tf.keras.optimizers.schedules.LearningRateSchedule
    """
    if isinstance(spec, tf.keras.optimizers.schedules.LearningRateSchedule):
        return spec
    if not isinstance(spec, Mapping):
        return _number(spec, key_path, positive=True)
    if "class_name" in spec or "full_class_string" in spec:
        return _keras_schedule(spec, key_path)
    kind = spec.get("schedule")
    if kind == "constant":
        unknown = sorted(set(spec) - {"schedule", "value"})
        if unknown:
            raise ScheduleConfigError(f"{key_path}.{unknown[0]}: unknown key")
        if "value" not in spec:
            raise ScheduleConfigError(f"{key_path}.value: missing")
        return _number(spec["value"], f"{key_path}.value", positive=True)
    if kind == "piecewise":
        unknown = sorted(set(spec) - {"schedule", "phases"})
        if unknown:
            raise ScheduleConfigError(f"{key_path}.{unknown[0]}: unknown key")
        if "phases" not in spec:
            raise ScheduleConfigError(f"{key_path}.phases: missing")
        return PiecewiseSchedule(spec["phases"], key_path=f"{key_path}.phases")
    raise ScheduleConfigError(
        f"{key_path}.schedule: expected 'piecewise' or 'constant' (or a Keras 'class_name'), "
        f"got {kind!r}"
    )


def learning_rate_value(learning_rate, step: int) -> float:
    """The learning rate (float or schedule) at an optimizer step, as a Python float."""
    if isinstance(learning_rate, tf.keras.optimizers.schedules.LearningRateSchedule):
        return float(learning_rate(tf.constant(step, tf.int64)))
    return float(learning_rate)
