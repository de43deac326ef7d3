"""The Source base class and the tensor plumbing every source shares.

A source maps hypotheses to, per (event, DOM), an expected charge, its variance and an
arrival-time density normalised over the event's readout window. The core method works on a
stack of S hypotheses per event (all sources of one class in a multi-source, all seeds, all
perturbations) so that nothing loops in Python:

``evaluate_stacked(parameters [B, S, P], batch) -> dict`` with

=====================  =========  ===========================================================
key                    shape      meaning
=====================  =========  ===========================================================
dom_charges            [B, S, D]  expected charge inside the readout window [PE]
dom_charges_variance   [B, S, D]  its variance
pulse_pdf              [N, S]     time density [1/ns] at each pulse (its event, its DOM)
pulse_cdf              [N, S]     matching CDF from the window start
dom_cdf_exclusion      [B, S, D]  density mass inside the DOM's exclusion windows
=====================  =========  ===========================================================

(+ ``component_dom_charges`` and ``nested_results`` for multi-sources). ``__call__`` evaluates
S = 1 and drops that axis, giving the result dictionary of resources/docs/internals.md. All
result tensors are float64 whatever the source computes in.
"""

from __future__ import annotations

import keyword
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from ...data.batch import EventBatch
from ...data.tensors import batch_to_tensors
from ...detector import DetectorTable

RESULT_KEYS = (
    "dom_charges",
    "dom_charges_variance",
    "pulse_pdf",
    "pulse_cdf",
    "dom_cdf_exclusion",
)
#: batch keys a source reads
BATCH_KEYS = (
    "time_window_ns",
    "pulse_time_ns",
    "pulse_event",
    "pulse_dom",
    "window_exclusions_ns",
    "window_event",
    "window_dom",
)


class SourceConfigError(ValueError):
    """A source's config (or its parameters) is invalid; the message names the key path."""


def _type_name(value: Any) -> str:
    return type(value).__name__


def resolve_config(
    defaults: Mapping[str, Any], config: Mapping[str, Any] | None, key_path: str
) -> dict[str, Any]:
    """Defaults updated by ``config``; unknown keys and wrong types raise SourceConfigError.

    The type of each default decides what is accepted: a float default accepts ints and floats
    (stored as float), an int default ints, a bool default bools, a str default strings, a list
    default lists/tuples (stored as list), a dict default mappings, ``None`` anything.
    """
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise SourceConfigError(f"{key_path}: expected a mapping, got {_type_name(config)}")
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        where = ", ".join(f"{key_path}.{k}" for k in unknown)
        raise SourceConfigError(
            f"{key_path}: unknown key(s) {unknown} (at {where}); valid keys: {sorted(defaults)}"
        )
    resolved: dict[str, Any] = {}
    for key, default in defaults.items():
        value = config.get(key, default)
        path = f"{key_path}.{key}"
        if default is None:
            resolved[key] = value
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise SourceConfigError(f"{path}: expected true/false, got {value!r}")
            resolved[key] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise SourceConfigError(f"{path}: expected an integer, got {value!r}")
            resolved[key] = int(value)
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise SourceConfigError(f"{path}: expected a number, got {value!r}")
            if not np.isfinite(float(value)):
                raise SourceConfigError(f"{path}: expected a finite number, got {value!r}")
            resolved[key] = float(value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise SourceConfigError(f"{path}: expected a string, got {value!r}")
            resolved[key] = value
        elif isinstance(default, list | tuple):
            if not isinstance(value, list | tuple):
                raise SourceConfigError(f"{path}: expected a list, got {value!r}")
            resolved[key] = list(value)
        elif isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise SourceConfigError(f"{path}: expected a mapping, got {value!r}")
            resolved[key] = dict(value)
        else:  # pragma: no cover - defaults are ours
            resolved[key] = value
    return resolved


def module_safe_name(name: str) -> str:
    """A valid Python identifier for tf.Module (which rejects e.g. ``cascade-1``)."""
    safe = re.sub(r"\W", "_", str(name)) or "source"
    if safe[0].isdigit() or keyword.iskeyword(safe):
        safe = "s_" + safe
    return safe


def as_batch_tensors(batch: EventBatch | Mapping[str, Any]) -> dict[str, tf.Tensor]:
    """Accept an EventBatch or a tensor dict; return the tensors a source reads."""
    if isinstance(batch, EventBatch):
        batch = batch_to_tensors(batch)
    missing = [k for k in BATCH_KEYS if k not in batch]
    if missing:
        raise SourceConfigError(f"batch: missing key(s) {missing} (see internals.md)")
    return {k: batch[k] for k in BATCH_KEYS}


class Source(tf.Module):
    """Base class of every source (leaf sources and multi-sources).

    Parameters
    ----------
    config : dict
        Settings; unknown keys are errors. Defaults: ``DEFAULT_CONFIG`` of the class.
    detector : DetectorTable
        The DOMs the source predicts for (D = ``detector.num_doms``).
    name : str
        The component's name (folder name when saved; child name in a multi-source).
    key_path : str, optional
        Where the component stands in the config tree (for error messages).

    Attributes
    ----------
    parameter_names : tuple of str
        Names of the P parameters, in order.
    config : mapping
        The resolved config (read-only).
    """

    DEFAULT_CONFIG: ClassVar[Mapping[str, Any]] = {}
    is_multi_source: ClassVar[bool] = False
    registry_name: ClassVar[str] = ""

    def __init__(
        self,
        config: Mapping[str, Any] | None,
        detector: DetectorTable,
        name: str = "source",
        key_path: str | None = None,
    ):
        super().__init__(name=module_safe_name(name))
        if not isinstance(detector, DetectorTable):
            raise SourceConfigError(
                f"{key_path or name}: detector must be a DetectorTable, got {_type_name(detector)}"
            )
        self.source_name = str(name)
        self.key_path = key_path or str(name)
        # MappingProxyType: read-only and not wrapped by tf.Module's attribute tracking
        self._config = types.MappingProxyType(
            resolve_config(self.DEFAULT_CONFIG, config, f"{self.key_path}.config")
        )
        self.detector = detector
        self.num_doms = int(detector.num_doms)
        self.parameter_names: tuple[str, ...] = ()

    # ------------------------------------------------------------------ description
    @property
    def config(self) -> Mapping[str, Any]:
        return self._config

    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def children(self) -> dict[str, Source]:
        """Named child components (empty for leaf sources)."""
        return {}

    def own_variables(self) -> dict[str, tf.Variable]:
        """This component's variables by stable name (children excluded); saved in weights.npz."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What config.yaml records about this component (besides versions)."""
        return {
            "class": self.registry_name or type(self).__name__,
            "name": self.source_name,
            "config": dict(self._config),
            "parameter_names": list(self.parameter_names),
        }

    # ------------------------------------------------------------------ evaluation
    def evaluate_stacked(
        self, parameters: tf.Tensor, batch: Mapping[str, tf.Tensor], with_nested: bool = True
    ) -> dict[str, Any]:
        """Evaluate S stacked hypotheses per event: parameters [B, S, P] -> stacked results."""
        raise NotImplementedError

    def __call__(
        self,
        parameters: tf.Tensor | np.ndarray,
        batch: EventBatch | Mapping[str, Any],
        with_nested: bool = True,
    ) -> dict[str, Any]:
        """Evaluate one hypothesis per event: parameters [B, P] -> internals.md result dict.

        Parameters
        ----------
        parameters : [B, P]
            Hypotheses in the order of ``parameter_names``.
        batch : EventBatch or tensor dict (``batch_to_tensors``)
            The events (pulses, readout windows, exclusion windows).
        with_nested : bool
            Include ``nested_results`` (multi-sources); unused entries cost nothing inside a
            tf.function, but in eager mode they are materialised.
        """
        tensors = as_batch_tensors(batch)
        parameters = tf.convert_to_tensor(parameters)
        if parameters.shape.rank != 2 or (
            parameters.shape[-1] is not None and parameters.shape[-1] != self.num_parameters
        ):
            raise SourceConfigError(
                f"{self.key_path}: parameters must have shape [B, {self.num_parameters}] "
                f"({', '.join(self.parameter_names)}), got {parameters.shape}"
            )
        stacked = self.evaluate_stacked(parameters[:, None, :], tensors, with_nested=with_nested)
        return select_stacked(stacked, 0)

    def check_stacked_parameters(self, parameters: tf.Tensor) -> None:
        """Raise if ``parameters`` is not [B, S, P] with this source's P."""
        if parameters.shape.rank != 3 or (
            parameters.shape[-1] is not None and parameters.shape[-1] != self.num_parameters
        ):
            raise SourceConfigError(
                f"{self.key_path}: stacked parameters must have shape [B, S, "
                f"{self.num_parameters}], got {parameters.shape}"
            )


# ---------------------------------------------------------------------- stacked-result helpers
def map_results(fn: Callable[[tf.Tensor], tf.Tensor], results: Mapping[str, Any]) -> dict:
    """Apply ``fn`` to every tensor of a (nested) result dict; every tensor has S on axis 1."""
    out: dict[str, Any] = {}
    for key, value in results.items():
        out[key] = map_results(fn, value) if isinstance(value, Mapping) else fn(value)
    return out


def select_stacked(results: Mapping[str, Any], index: int) -> dict:
    """The results of stacked hypothesis ``index`` (drops axis 1 of every tensor)."""
    return map_results(lambda t: t[:, index], results)


def split_stacked(results: Mapping[str, Any], num: int) -> dict:
    """[X, S*num, ...] -> [X, S, num, ...] for every tensor (un-stack grouped sources)."""

    def fn(t: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(t)
        new_shape = tf.concat([shape[:1], [shape[1] // num, num], shape[2:]], axis=0)
        return tf.reshape(t, new_shape)

    return map_results(fn, results)


# ---------------------------------------------------------------------- gathers and segment sums
def gather_event_dom(
    values: tf.Tensor, event: tf.Tensor, dom: tf.Tensor, num_doms: int
) -> tf.Tensor:
    """values [B, S, D, ...] -> [X, S, ...] at (event[x], s, dom[x]) without a transpose."""
    shape = tf.shape(values)
    num_stack = shape[1]
    flat = tf.reshape(values, tf.concat([[-1], shape[3:]], axis=0))
    stack = tf.range(num_stack, dtype=tf.int32)
    index = (event[:, None] * num_stack + stack[None, :]) * num_doms + dom[:, None]
    return tf.gather(flat, index)


def segment_sum_event_dom(
    values: tf.Tensor,
    event: tf.Tensor,
    dom: tf.Tensor,
    num_events: tf.Tensor,
    num_doms: int,
) -> tf.Tensor:
    """values [X, S] summed into [B, S, D] at (event[x], s, dom[x])."""
    num_stack = tf.shape(values)[1]
    stack = tf.range(num_stack, dtype=tf.int32)
    index = (event[:, None] * num_stack + stack[None, :]) * num_doms + dom[:, None]
    total = num_events * num_stack * num_doms
    summed = tf.math.unsorted_segment_sum(tf.reshape(values, [-1]), tf.reshape(index, [-1]), total)
    return tf.reshape(summed, [num_events, num_stack, num_doms])


def window_normalised_times(
    per_dom: Mapping[str, tf.Tensor],
    log_pdf: Callable[[Mapping[str, tf.Tensor], tf.Tensor], tf.Tensor],
    integral: Callable[[Mapping[str, tf.Tensor], tf.Tensor, tf.Tensor], tf.Tensor],
    reference_time_ns: tf.Tensor,
    batch: Mapping[str, tf.Tensor],
    num_doms: int,
    dtype: tf.DType,
    min_mass: float = 1e-20,
) -> dict[str, tf.Tensor]:
    """Window-normalised per-pulse density/CDF and exclusion mass of a per-DOM time density.

    Parameters
    ----------
    per_dom : dict of [B, S, D, ...] tensors
        Parameters of each (event, hypothesis, DOM) density, in ``dtype``.
    log_pdf : callable (params, time) -> values
        Log of the un-normalised density; ``params`` holds the same keys as ``per_dom``
        gathered to the shape of ``time`` (plus trailing axes); times are relative to
        ``reference_time_ns`` and in ``dtype``.
    integral : callable (params, start, stop) -> values
        The density's mass in [start, stop] (same conventions; start <= stop).
    reference_time_ns : [B, S] float64
        Time origin per hypothesis (e.g. the cascade time), so float32 densities keep their
        precision on 10^4 ns absolute times.
    batch : tensor dict
        ``time_window_ns``, pulses and exclusion windows.

    Returns
    -------
    dict
        ``window_mass`` [B, S, D] (in ``dtype``: the density's mass inside the readout window),
        ``pulse_pdf``, ``pulse_cdf`` [N, S] and ``dom_cdf_exclusion`` [B, S, D] (float64,
        normalised over the readout window).
    """
    window = batch["time_window_ns"]
    num_events = tf.shape(window)[0]
    reference_time_ns = tf.cast(reference_time_ns, tf.float64)

    # readout-window mass per (event, hypothesis, DOM)
    start = tf.cast(window[:, None, 0:1] - reference_time_ns[:, :, None], dtype)  # [B, S, 1]
    stop = tf.cast(window[:, None, 1:2] - reference_time_ns[:, :, None], dtype)
    mass = integral(per_dom, start, stop)  # [B, S, D]
    safe_mass = tf.maximum(mass, tf.constant(min_mass, dtype=dtype))
    log_mass = tf.math.log(safe_mass)

    # pulses
    event, dom = batch["pulse_event"], batch["pulse_dom"]
    pulse_params = {k: gather_event_dom(v, event, dom, num_doms) for k, v in per_dom.items()}
    pulse_window = tf.gather(window, event)  # [N, 2]
    pulse_ref = tf.gather(reference_time_ns, event)  # [N, S]
    time = batch["pulse_time_ns"]
    inside = (time >= pulse_window[:, 0]) & (time <= pulse_window[:, 1])
    rel_time = tf.cast(time[:, None] - pulse_ref, dtype)  # [N, S]
    pulse_log_mass = gather_event_dom(log_mass, event, dom, num_doms)
    pulse_mass = gather_event_dom(safe_mass, event, dom, num_doms)
    log_density = tf.cast(log_pdf(pulse_params, rel_time) - pulse_log_mass, tf.float64)
    pulse_pdf = tf.where(inside[:, None], tf.exp(log_density), tf.zeros_like(log_density))
    rel_start = tf.cast(pulse_window[:, 0:1] - pulse_ref, dtype)
    rel_stop = tf.cast(pulse_window[:, 1:2] - pulse_ref, dtype)
    clipped = tf.clip_by_value(rel_time, rel_start, rel_stop)
    pulse_cdf = tf.cast(integral(pulse_params, rel_start, clipped) / pulse_mass, tf.float64)
    pulse_cdf = tf.clip_by_value(pulse_cdf, 0.0, 1.0)

    # exclusion windows (merged, non-overlapping): mass inside, summed per DOM
    w_event, w_dom = batch["window_event"], batch["window_dom"]
    w_params = {k: gather_event_dom(v, w_event, w_dom, num_doms) for k, v in per_dom.items()}
    w_ref = tf.gather(reference_time_ns, w_event)  # [M, S]
    w_window = tf.gather(window, w_event)  # [M, 2]
    excl = batch["window_exclusions_ns"]
    lo = tf.clip_by_value(excl[:, 0], w_window[:, 0], w_window[:, 1])
    hi = tf.clip_by_value(excl[:, 1], w_window[:, 0], w_window[:, 1])
    hi = tf.maximum(hi, lo)
    w_lo = tf.cast(lo[:, None] - w_ref, dtype)
    w_hi = tf.cast(hi[:, None] - w_ref, dtype)
    w_mass = gather_event_dom(safe_mass, w_event, w_dom, num_doms)
    excluded = tf.cast(integral(w_params, w_lo, w_hi) / w_mass, tf.float64)
    excluded = tf.maximum(excluded, 0.0)
    dom_cdf_exclusion = segment_sum_event_dom(excluded, w_event, w_dom, num_events, num_doms)
    dom_cdf_exclusion = tf.clip_by_value(dom_cdf_exclusion, 0.0, 1.0)
    return {
        "window_mass": mass,
        "pulse_pdf": pulse_pdf,
        "pulse_cdf": pulse_cdf,
        "dom_cdf_exclusion": dom_cdf_exclusion,
    }
