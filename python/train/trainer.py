"""The training loop: steps, validation, checkpoints with exact resume, logs, progress bar.

:class:`Trainer` works on already built parts (model, loss module, optimizer) and a factory of
batch iterators, so it serves the config-driven entry point (:mod:`.from_config`) and tests
alike. Everything that determines the next step is saved in a checkpoint and restored on a
resume: model variables, optimizer variables (Adam moments, iteration count, hence the
schedule position), the number of training batches consumed (the data stream is recreated
from its seed and that many batches are skipped), the trainer RNG, the skipped-step count and
the best validation loss. With op determinism on (the default) N steps in one go and N/2 +
resume + N/2 give bit-identical weights and optimizer state on CPU.

Manager folder layout (``model_manager_settings.config.manager_dir``)::

    checkpoints/         rolling ckpt-NNNNNNNN/ and best-NNNNNNNN/ (see .checkpoint)
    stages/NNN_config.yaml   one per training stage (each start or resume): resolved config,
                         start step, package versions, git commit
    logs/training_log.csv, logs/tensorboard/
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .atomic import write_yaml_atomic
from .checkpoint import CheckpointStore
from .nan_guard import NanGuard
from .provenance import provenance
from .state import capture_state, restore_state
from .step import StepSettings, build_eval_step, build_train_step
from .training_log import TrainingLog

__all__ = ["Trainer", "TrainerSettings", "TrainingResult", "TrainingSetupError"]

BatchFactory = Callable[[int], Iterator[Mapping[str, Any]]]


class TrainingSetupError(ValueError):
    """The manager folder or the data do not allow the requested training run."""


@dataclass(frozen=True)
class TrainerSettings:
    """Loop settings (from ``training_settings``; see :func:`.from_config.trainer_settings`).

    Attributes
    ----------
    num_training_iterations : int
        Total steps of the run (a resume continues up to this number).
    validation_frequency : int
        Steps between validation losses (also written at the last step).
    save_frequency : int
        Steps between rolling checkpoints (one is always written at the last step).
    log_frequency : int
        Steps between rows of the CSV/TensorBoard log (``evaluation_frequency``); each row
        holds the mean training loss of the steps since the previous row.
    keep_checkpoints : int
        Rolling checkpoints kept (the best-by-validation checkpoint is kept in addition).
    max_consecutive_nan_steps : int
        Stop after this many skipped (non-finite) steps in a row.
    step : StepSettings
        Regularisation, clipping, NaN-gradient handling, XLA.
    deterministic : bool
        Turn on TensorFlow op determinism (exact resume; may be slower on GPUs).
    restore : bool
        Resume from the newest checkpoint (``model_manager_settings.restore_model``).
    seed : int
        Seed of the trainer RNG.
    """

    num_training_iterations: int
    validation_frequency: int = 100
    save_frequency: int = 500
    log_frequency: int = 100
    keep_checkpoints: int = 3
    max_consecutive_nan_steps: int = 10
    step: StepSettings = field(default_factory=StepSettings)
    deterministic: bool = True
    restore: bool = False
    seed: int = 42


@dataclass
class TrainingResult:
    """Summary of a finished run."""

    manager_dir: str
    start_step: int
    final_step: int
    steps_run: int
    skipped_steps: int
    final_train_loss: float | None
    final_validation_loss: float | None
    best_validation_loss: float | None
    wall_time_s: float
    time_to_first_step_s: float | None
    steps_per_s: float
    events_per_s: float
    last_checkpoint: str | None
    initial_validation_loss: float | None = None
    trace_count: int = 0
    median_step_time_s: float | None = None


def _to_python(values: Mapping[str, tf.Tensor]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        array = np.asarray(value)
        out[key] = bool(array) if array.dtype == bool else float(array)
    return out


class Trainer:
    """Train a model on a stream of batches.

    Parameters
    ----------
    model : tf.Module
        Called as ``model(parameters [B, P], batch)`` -> results dict.
    loss_module : callable
        ``loss_module(batch, results) -> (totals [B], {term: [B]})``.
    optimizer : tf.keras.optimizers.Optimizer
    signature : dict of tf.TensorSpec
        Input signature of a batch (``tensor_signature`` of egenerator.data.tensors).
    settings : TrainerSettings
    manager_dir : path
        Folder of checkpoints, logs and stage records.
    config : mapping, optional
        Resolved config recorded with each stage.
    """

    def __init__(
        self,
        model,
        loss_module,
        optimizer: tf.keras.optimizers.Optimizer,
        signature: Mapping[str, tf.TensorSpec],
        settings: TrainerSettings,
        manager_dir: str | os.PathLike,
        config: Mapping[str, Any] | None = None,
    ):
        self.model = model
        self.loss_module = loss_module
        self.optimizer = optimizer
        self.signature = dict(signature)
        self.settings = settings
        self.manager_dir = Path(manager_dir)
        self.config = dict(config) if config is not None else None
        self.store = CheckpointStore(self.manager_dir / "checkpoints", settings.keep_checkpoints)
        self.rng = tf.random.Generator.from_seed(settings.seed)
        self.train_step = build_train_step(model, loss_module, optimizer, signature, settings.step)
        self.eval_step = build_eval_step(model, loss_module, signature, settings.step.jit_compile)
        # bookkeeping (restored from checkpoints)
        self.step = 0
        self.batches_consumed = 0
        self.best_validation_loss: float | None = None
        self.nan_guard = NanGuard(settings.max_consecutive_nan_steps)
        self.elapsed_before_s = 0.0
        schedule = isinstance(
            getattr(optimizer, "_learning_rate", None),
            tf.keras.optimizers.schedules.LearningRateSchedule,
        )
        self._constant_learning_rate = None if schedule else self._learning_rate()

    # ------------------------------------------------------------------ state
    def _learning_rate(self) -> float:
        """Current learning rate (a schedule is evaluated at the optimizer's iteration count)."""
        return float(np.asarray(self.optimizer.learning_rate))

    def _meta(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        meta = {
            "batches_consumed": int(self.batches_consumed),
            "optimizer_iterations": int(self.optimizer.iterations.numpy()),
            "skipped_steps": int(self.nan_guard.total_skipped),
            "best_validation_loss": self.best_validation_loss,
            "elapsed_s": float(self.elapsed_before_s + self._elapsed()),
        }
        meta.update(extra or {})
        return meta

    def _elapsed(self) -> float:
        return time.perf_counter() - self._t_start if hasattr(self, "_t_start") else 0.0

    def save(self, kind: str = "ckpt", extra: Mapping[str, Any] | None = None) -> Path:
        """Write the current state as a rolling (``ckpt``) or best (``best``) checkpoint."""
        arrays, meta = capture_state(self.model, self.optimizer, self.rng)
        meta.update(self._meta(extra))
        return self.store.save(self.step, arrays, meta, kind=kind)

    def restore_latest(self) -> bool:
        """Load the newest checkpoint into model, optimizer and RNG; False if there is none."""
        latest = self.store.latest()
        if latest is None:
            return False
        restore_state(latest, self.model, self.optimizer, self.rng)
        if self._constant_learning_rate is not None:
            # a constant rate is an optimizer variable: the configured value wins over the stored
            self.optimizer.learning_rate = self._constant_learning_rate
        self.step = latest.step
        self.batches_consumed = int(latest.meta["batches_consumed"])
        self.best_validation_loss = latest.meta.get("best_validation_loss")
        self.nan_guard = NanGuard(
            self.settings.max_consecutive_nan_steps, int(latest.meta.get("skipped_steps", 0))
        )
        self.elapsed_before_s = float(latest.meta.get("elapsed_s", 0.0))
        return True

    def _record_stage(self, start_step: int, target: int) -> None:
        stages = self.manager_dir / "stages"
        stages.mkdir(parents=True, exist_ok=True)
        index = len([p for p in stages.iterdir() if p.name.endswith("_config.yaml")])
        record = {
            "stage": index,
            "start_step": int(start_step),
            "target_step": int(target),
            "restored": start_step > 0,
            **provenance(),
            "config": self.config,
        }
        write_yaml_atomic(stages / f"{index:03d}_config.yaml", record)

    # ------------------------------------------------------------------ validation
    def validate(self, batches) -> dict[str, float] | None:
        """Event-weighted mean loss (and terms) over a fixed list of batches."""
        if not batches:
            return None
        sums: dict[str, float] = {}
        total_weight = 0.0
        for batch in batches:
            out = _to_python(self.eval_step(batch))
            weight = float(np.sum(np.asarray(batch["weights"])))
            total_weight += weight
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + value * weight
        return {key: value / total_weight for key, value in sums.items()}

    # ------------------------------------------------------------------ loop
    def fit(
        self,
        make_batches: BatchFactory,
        validation_batches=None,
        num_steps: int | None = None,
        progress: bool = True,
        term_names=None,
    ) -> TrainingResult:
        """Train up to ``num_steps`` (default: ``num_training_iterations``) total steps.

        Parameters
        ----------
        make_batches : callable
            ``make_batches(skip)`` -> iterator of batch dicts, starting after ``skip`` batches
            of the seeded stream (so a resume continues where the checkpoint left off).
        validation_batches : list of batch dicts, optional
            The fixed validation set (evaluated every ``validation_frequency`` steps).
        num_steps : int, optional
            Target total step count (overrides the settings).
        progress : bool
            Show a tqdm progress bar.
        term_names : sequence of str, optional
            Loss-term names for the log columns (default: taken from the first step).
        """
        with op_determinism(self.settings.deterministic):
            return self._fit(make_batches, validation_batches, num_steps, progress, term_names)

    def _fit(self, make_batches, validation_batches, num_steps, progress, term_names):
        settings = self.settings
        target = settings.num_training_iterations if num_steps is None else int(num_steps)
        if settings.restore:
            self.restore_latest()
        elif self.store.has_any():
            raise TrainingSetupError(
                f"{self.store.directory} holds checkpoints of an earlier run: set "
                "model_manager_settings.restore_model: True to continue it, or remove the folder "
                "(egenerator train --overwrite) to start anew"
            )
        start_step = self.step
        validation_batches = list(validation_batches or [])
        self._record_stage(start_step, target)
        self._t_start = time.perf_counter()
        result = TrainingResult(
            manager_dir=str(self.manager_dir),
            start_step=start_step,
            final_step=start_step,
            steps_run=0,
            skipped_steps=self.nan_guard.total_skipped,
            final_train_loss=None,
            final_validation_loss=None,
            best_validation_loss=self.best_validation_loss,
            wall_time_s=0.0,
            time_to_first_step_s=None,
            steps_per_s=0.0,
            events_per_s=0.0,
            last_checkpoint=None,
        )
        if start_step >= target:
            return result
        log = None
        bar = None
        initial_validation = None
        initial_learning_rate = self._learning_rate()
        if start_step == 0 and validation_batches:
            initial_validation = self.validate(validation_batches)
            result.initial_validation_loss = initial_validation["loss"]
        batches = make_batches(self.batches_consumed)
        step_times: deque[float] = deque(maxlen=1000)  # the latest steps (first excluded below)
        events = 0
        window: list[dict[str, float]] = []
        last_validation = None
        t_loop = None
        try:
            for step in range(start_step + 1, target + 1):
                try:
                    batch = next(batches)
                except StopIteration:
                    raise TrainingSetupError(
                        f"the training data ended after {self.batches_consumed} batches, before "
                        f"step {step} of {target}; use pick_random_files_forever or more data"
                    ) from None
                self.batches_consumed += 1
                t_step = time.perf_counter()
                out = _to_python(self.train_step(batch))
                step_times.append(time.perf_counter() - t_step)
                self.step = step
                if result.time_to_first_step_s is None:
                    result.time_to_first_step_s = time.perf_counter() - self._t_start
                    t_loop = time.perf_counter()
                    events_at_loop = 0
                events += int(np.shape(batch["weights"])[0])
                if step == start_step + 1:
                    events_at_loop = events
                self.nan_guard.record(step, out["applied"], out["loss"])
                if out["applied"]:
                    window.append(out)
                if log is None:
                    names = term_names or [k[5:] for k in out if k.startswith("term/")]
                    log = TrainingLog(
                        self.manager_dir / "logs", names, resume_step=start_step or None
                    )
                    if initial_validation is not None:
                        log.write(0, 0.0, initial_learning_rate, None, 0, initial_validation)
                validation = None
                if step % settings.validation_frequency == 0 or step == target:
                    validation = self.validate(validation_batches)
                    if validation is not None:
                        last_validation = validation["loss"]
                        if math.isfinite(last_validation) and (
                            self.best_validation_loss is None
                            or last_validation < self.best_validation_loss
                        ):
                            self.best_validation_loss = last_validation
                            self.save("best", {"validation_loss": last_validation})
                if step % settings.log_frequency == 0 or validation is not None or step == target:
                    mean = _window_mean(window)
                    log.write(
                        step,
                        self.elapsed_before_s + self._elapsed(),
                        self._learning_rate(),
                        mean,
                        self.nan_guard.total_skipped,
                        validation,
                    )
                    if mean:
                        result.final_train_loss = mean["loss"]
                    window = []
                if step % settings.save_frequency == 0 or step == target:
                    result.last_checkpoint = str(self.save("ckpt"))
                if progress:
                    bar = bar or _progress_bar(start_step, target)
                    bar.update(1)
                    if bar.n % 10 == 0 or step == target:
                        seconds = max(time.perf_counter() - self._t_start, 1e-9)
                        bar.set_postfix(
                            loss=f"{out['loss']:.4g}",
                            val="-" if last_validation is None else f"{last_validation:.4g}",
                            ev_s=f"{events / seconds:.0f}",
                            skipped=self.nan_guard.total_skipped,
                            refresh=False,
                        )
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        wall = time.perf_counter() - self._t_start
        steps_run = self.step - start_step
        loop_time = time.perf_counter() - t_loop if t_loop is not None else 0.0
        result.final_step = self.step
        result.steps_run = steps_run
        result.skipped_steps = self.nan_guard.total_skipped
        result.final_validation_loss = last_validation
        result.best_validation_loss = self.best_validation_loss
        result.wall_time_s = wall
        result.trace_count = int(self.train_step.experimental_get_tracing_count())
        if steps_run > 1:
            latest = list(step_times)[1:] if steps_run <= len(step_times) else list(step_times)
            result.median_step_time_s = float(np.median(latest))
        if steps_run > 1 and loop_time > 0:
            result.steps_per_s = (steps_run - 1) / loop_time
            result.events_per_s = (events - events_at_loop) / loop_time
        return result


@contextlib.contextmanager
def op_determinism(enabled: bool):
    """Turn TensorFlow op determinism on for a block and back off afterwards.

    Determinism is process-wide; switching it back keeps it from leaking into code that runs
    after training in the same process (it makes unseeded random ops raise, for example).
    """
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    if enabled and not before:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not before:
            tf_config.disable_op_determinism()


def _window_mean(window: list[dict[str, float]]) -> dict[str, float] | None:
    if not window:
        return None
    keys = [k for k in window[0] if k not in ("applied", "removed_gradients")]
    mean = {k: float(np.mean([w[k] for w in window])) for k in keys}
    mean["removed_gradients"] = float(sum(w.get("removed_gradients", 0.0) for w in window))
    return mean


def _progress_bar(start: int, total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, mininterval=0.5)
