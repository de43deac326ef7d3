"""The trainer on a tiny config: loss decreases, exact resume, hand-checked updates, NaN guard,
bad configs. Data: a few hundred simulated events on seven strings (seconds to make)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from egenerator.config.loader import ConfigError
from egenerator.data.tensors import tensor_signature
from egenerator.io.writer import write_simulation
from egenerator.sim.sampler import simulate_events
from egenerator.train.checkpoint import CheckpointStore
from egenerator.train.from_config import (
    _training_batches,
    _validation_batches,
    build_loss_module,
    build_training_model,
    prepare_config,
    train,
    trainer_settings,
)
from egenerator.train.nan_guard import TrainingDivergedError
from egenerator.train.optimizers import make_optimizer
from egenerator.train.schedules import ScheduleConfigError
from egenerator.train.step import StepSettings, batch_objective, build_train_step
from egenerator.train.trainer import Trainer, TrainingSetupError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, small_detector):
    """A folder with tiny_test.yaml, detector.csv and simulated train/validation files."""
    root = tmp_path_factory.mktemp("tiny_train")
    small_detector.to_csv(root / "detector.csv")
    (root / "data").mkdir()
    for name, events, seed in (("train_0", 96, 1), ("validation_0", 16, 2)):
        write_simulation(
            root / "data" / f"{name}.hdf5",
            simulate_events(events, seed, small_detector, energy_range_gev=(1e3, 1e5)),
            small_detector,
        )
    shutil.copy(CONFIGS / "tiny_test.yaml", root / "tiny_test.yaml")
    return root


def write_config(root: Path, name: str, validation: bool = True, **training) -> Path:
    """tiny_test.yaml with a new unique_name (hence manager_dir) and training overrides."""
    raw = yaml.safe_load((root / "tiny_test.yaml").read_text())
    raw["unique_name"] = name
    raw["training_settings"].update(training)
    if not validation:
        raw["data_iterator_settings"]["validation"]["input_data"] = []
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def read_log(manager_dir: Path) -> list[dict]:
    with open(manager_dir / "logs" / "training_log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_tiny_training_reduces_loss(workspace):
    config = write_config(workspace, "reduce")
    result = train(config, progress=False)
    manager = Path(result.manager_dir)
    assert result.final_step == 200 and result.steps_run == 200 and result.skipped_steps == 0
    assert result.trace_count == 1  # one trace for every batch shape
    rows = read_log(manager)
    validation = [
        (int(r["step"]), float(r["validation_loss"])) for r in rows if r["validation_loss"]
    ]
    assert validation[0][0] == 0 and validation[-1][0] == 200
    initial, final = validation[0][1], validation[-1][1]
    assert final < initial - 0.01 * abs(initial), (initial, final)
    train_losses = [float(r["train_loss"]) for r in rows if r["train_loss"]]
    assert np.mean(train_losses[-3:]) < np.mean(train_losses[:2])
    assert result.best_validation_loss == min(v for _, v in validation[1:])
    store = CheckpointStore(manager / "checkpoints")
    assert [c.step for c in store.checkpoints()] == [100, 200]
    assert store.best().meta["validation_loss"] == result.best_validation_loss
    stage = yaml.safe_load((manager / "stages" / "000_config.yaml").read_text())
    assert stage["start_step"] == 0 and stage["config"]["unique_name"] == "reduce"
    assert "tensorflow" in stage["package_versions"] and "git_commit" in stage
    assert list((manager / "logs" / "tensorboard").iterdir())
    # the schedule logged matches its closed form (0.01 -> 0.005 over 50 steps, then 0.005)
    lr = {int(r["step"]): float(r["learning_rate"]) for r in rows}
    np.testing.assert_allclose(lr[25], 0.01 - 0.005 * 25 / 50, rtol=1e-6)
    np.testing.assert_allclose(lr[200], 0.005, rtol=1e-6)


@pytest.mark.slow
def test_resume_is_bit_identical(workspace):
    """6 steps in one go == 3 steps + resume + 3 steps (weights, Adam moments, RNG, data)."""
    kwargs = {"validation": False, "save_frequency": 3}
    straight = train(write_config(workspace, "straight", **kwargs), steps=6, progress=False)
    config = write_config(workspace, "halves", **kwargs)
    first = train(config, steps=3, progress=False)
    assert first.final_step == 3
    raw = yaml.safe_load(config.read_text())
    raw["model_manager_settings"]["restore_model"] = True
    config.write_text(yaml.safe_dump(raw))
    second = train(config, steps=6, progress=False)
    assert (second.start_step, second.final_step) == (3, 6)
    a = CheckpointStore(Path(straight.manager_dir) / "checkpoints").latest()
    b = CheckpointStore(Path(second.manager_dir) / "checkpoints").latest()
    arrays_a, arrays_b = a.load_arrays(), b.load_arrays()
    assert sorted(arrays_a) == sorted(arrays_b)
    assert any(k.startswith("optimizer/") for k in arrays_a)
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)
    for key in ("batches_consumed", "optimizer_iterations", "step"):
        assert a.meta[key] == b.meta[key] == 6
    stages = sorted(p.name for p in (Path(second.manager_dir) / "stages").iterdir())
    assert stages == ["000_config.yaml", "001_config.yaml"]
    # the log holds each step once
    steps = [int(r["step"]) for r in read_log(Path(second.manager_dir))]
    assert steps == sorted(set(steps))


def _model_loss_batch(workspace, name="handcheck"):
    config = prepare_config(write_config(workspace, name))
    model, detector = build_training_model(config)
    loss = build_loss_module(config)
    batch = next(_training_batches(config, model.parameter_names, detector)(0))
    signature = tensor_signature(detector.num_doms, len(model.parameter_names))
    return config, model, loss, batch, signature


def test_step_matches_hand_computed_update(workspace):
    """SGD with L1, L2 and global-norm clipping, and a first Adam step, against numpy."""
    _, model, loss, batch, signature = _model_loss_batch(workspace)
    variables = model.trainable_variables
    start = [v.numpy().astype(np.float64) for v in variables]
    with tf.GradientTape() as tape:
        objective, _ = batch_objective(model, loss, batch)
    grads = [g.numpy().astype(np.float64) for g in tape.gradient(objective, variables)]
    l1, l2, lr = 1e-3, 1e-2, 0.05
    total = [
        g + (l1 * np.sign(w) + 2 * l2 * w if w.ndim >= 2 else 0.0)
        for g, w in zip(grads, start, strict=True)
    ]
    norm = np.sqrt(sum(np.sum(t**2) for t in total))
    clip = 0.25 * norm  # active
    expected = [w - lr * t * (clip / norm) for w, t in zip(start, total, strict=True)]

    settings = StepSettings(l1_regularization=l1, l2_regularization=l2, clip_gradients_value=clip)
    step = build_train_step(
        model, loss, make_optimizer("SGD", {"learning_rate": lr}), signature, settings
    )
    out = step(batch)
    assert bool(out["applied"])
    np.testing.assert_allclose(float(out["grad_norm"]), norm, rtol=1e-5)
    penalty = sum(l1 * np.abs(w).sum() + l2 * (w**2).sum() for w in start if w.ndim >= 2)
    np.testing.assert_allclose(float(out["regularization"]), penalty, rtol=1e-6)
    for var, want, w0 in zip(variables, expected, start, strict=True):
        atol = 1e-6 * max(1.0, np.abs(w0).max())
        np.testing.assert_allclose(var.numpy(), want, rtol=1e-4, atol=atol, err_msg=var.name)

    # one Adam step from the new weights: m = (1-b1) g, v = (1-b2) g^2 and Keras' update
    # lr sqrt(1-b2)/(1-b1) m / (sqrt(v) + eps) = lr g / (|g| + eps / sqrt(1-b2))
    start = [v.numpy().astype(np.float64) for v in variables]
    with tf.GradientTape() as tape:
        objective, _ = batch_objective(model, loss, batch)
    grads = [g.numpy().astype(np.float64) for g in tape.gradient(objective, variables)]
    adam = make_optimizer("Adam", {"learning_rate": 1e-3, "epsilon": 1e-7})
    build_train_step(model, loss, adam, signature, StepSettings())(batch)
    for var, g, w0 in zip(variables, grads, start, strict=True):
        want = w0 - 1e-3 * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999))
        np.testing.assert_allclose(var.numpy(), want, rtol=1e-4, atol=2e-6, err_msg=var.name)


def test_nan_guard_skips_and_stops(workspace, tmp_path):
    config, model, loss, batch, signature = _model_loss_batch(workspace, "nanguard")
    bad = dict(batch)
    bad["pulse_charge_pe"] = tf.tensor_scatter_nd_update(
        batch["pulse_charge_pe"], [[0]], tf.constant([np.nan], tf.float64)
    )
    settings = trainer_settings(config)
    settings = type(settings)(**{**settings.__dict__, "max_consecutive_nan_steps": 3})
    optimizer = make_optimizer("Adam", {"learning_rate": 0.01})
    trainer = Trainer(model, loss, optimizer, signature, settings, tmp_path / "nan")
    before = [v.numpy().copy() for v in model.variables]
    out = trainer.train_step(bad)
    assert not bool(out["applied"]) and not np.isfinite(float(out["loss"]))
    assert int(optimizer.iterations.numpy()) == 0
    for var, old in zip(model.variables, before, strict=True):
        np.testing.assert_array_equal(var.numpy(), old)

    # good, bad, good, bad, bad, bad: two isolated skips are counted, three in a row stop it
    stream = [batch, bad, batch, bad, bad, bad, batch]
    with pytest.raises(TrainingDivergedError, match="3 consecutive steps .* 4 skipped"):
        trainer.fit(lambda skip: iter(stream[skip:]), num_steps=7, progress=False)
    assert trainer.step == 6 and int(optimizer.iterations.numpy()) == 2
    assert CheckpointStore(tmp_path / "nan" / "checkpoints").latest() is None


def test_bad_configs_name_the_key(workspace):
    base = yaml.safe_load((workspace / "tiny_test.yaml").read_text())

    def attempt(mutate, error, match, name="bad"):
        raw = yaml.safe_load(yaml.safe_dump(base))
        raw["unique_name"] = name
        mutate(raw)
        path = workspace / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(error, match=match):
            train(path, steps=1, progress=False)

    attempt(lambda r: r["training_settings"].update(foo=1), ConfigError, r"training_settings\.foo")
    attempt(
        lambda r: r["training_settings"].update(num_training_iterations="many"),
        ConfigError,
        r"training_settings\.num_training_iterations",
    )
    attempt(
        lambda r: r["training_settings"]["optimizer_settings"].update(
            learning_rate={"schedule": "piecewise", "phases": [{"steps": -1, "value": 1.0}]}
        ),
        ScheduleConfigError,
        r"training_settings\.optimizer_settings\.learning_rate\.phases\[0\]\.steps",
    )
    attempt(
        lambda r: r["training_settings"].update(optimizer_name="Adamm"),
        ValueError,
        r"training_settings\.optimizer_name",
    )
    attempt(
        lambda r: r["data_iterator_settings"]["training"].update(input_data=["nowhere/*.hdf5"]),
        TrainingSetupError,
        r"data_iterator_settings\.training\.input_data: .*nowhere/\*\.hdf5",
    )
    attempt(
        lambda r: r["detector_settings"].update(geometry="missing.csv"),
        ValueError,
        r"detector_settings\.geometry.*missing\.csv",
    )
    attempt(
        lambda r: r["model_settings"]["children"]["cascade"]["config"].update(num_unitz=3),
        ValueError,
        r"model_settings\.children\.cascade\.config.*num_unitz",
    )
    attempt(
        lambda r: r["loss_module_settings"][0]["config"].update(loss_function_name=["nope"]),
        ValueError,
        r"loss_module_settings\[0\]\.config\.loss_function_name",
    )


def test_existing_run_is_not_overwritten_silently(workspace):
    config = write_config(workspace, "existing")
    manager = Path(prepare_config(config)["model_manager_settings"]["config"]["manager_dir"])
    CheckpointStore(manager / "checkpoints").save(5, {"x": np.zeros(1)}, {})
    with pytest.raises(TrainingSetupError, match="restore_model: True"):
        train(config, steps=1, progress=False)


def test_validation_set_is_fixed(workspace):
    config = prepare_config(write_config(workspace, "valset"))
    model, detector = build_training_model(config)
    first = _validation_batches(config, model.parameter_names, detector)
    second = _validation_batches(config, model.parameter_names, detector)
    assert len(first) == 1  # 16 events, batch size 16
    for a, b in zip(first, second, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_padding_changes_neither_loss_nor_gradients(workspace):
    """Shape buckets for XLA: filler pulses/windows add exactly nothing."""
    from egenerator.train.padding import bucket_size, pad_batch

    assert [bucket_size(n, 16) for n in (0, 1, 16, 17, 100)] == [16, 16, 16, 32, 128]
    config, model, loss, batch, _ = _model_loss_batch(workspace, "padding")
    batch = {k: np.asarray(v) for k, v in batch.items()}
    # two partial exclusion windows, so that window padding is exercised too
    batch["window_exclusions_ns"] = np.array([[9500.0, 9800.0], [10000.0, 10100.0]])
    batch["window_event"] = np.array([0, 1], np.int32)
    batch["window_dom"] = np.array([5, 7], np.int32)
    padded = pad_batch(batch, min_pulses=4096, min_windows=16)
    assert padded["pulse_time_ns"].shape[0] == bucket_size(batch["pulse_time_ns"].shape[0], 4096)
    assert padded["window_event"].shape == (16,)
    order = padded["pulse_event"].astype(np.int64) * 10**6 + padded["pulse_dom"]
    assert np.all(np.diff(order) >= 0)

    def objective_and_gradients(b):
        with tf.GradientTape() as tape:
            value, terms = batch_objective(model, loss, b)
        return value, terms, tape.gradient(value, model.trainable_variables)

    value, terms, grads = objective_and_gradients(batch)
    value_p, terms_p, grads_p = objective_and_gradients(padded)
    np.testing.assert_allclose(float(value_p), float(value), rtol=1e-12)
    for name in terms:
        np.testing.assert_allclose(float(terms_p[name]), float(terms[name]), rtol=1e-12)
    for g, gp in zip(grads, grads_p, strict=True):
        np.testing.assert_allclose(gp.numpy(), g.numpy(), rtol=1e-6, atol=1e-12)
