"""Checkpoint store: atomic writes, retention, best checkpoint, crash safety, state round trip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf
from egenerator.train.atomic import atomic_directory, write_yaml_atomic
from egenerator.train.checkpoint import CheckpointError, CheckpointStore
from egenerator.train.state import capture_state, restore_state


def _arrays(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step)
    return {"model/0000": rng.normal(size=(4, 3)).astype(np.float32), "extra": np.arange(step)}


def test_round_trip_and_retention(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt", keep=2)
    for step in (10, 20, 30):
        store.save(step, _arrays(step), {"batches_consumed": step * 2})
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["ckpt-00000020", "ckpt-00000030"]
    latest = store.latest()
    assert latest.step == 30 and latest.meta["batches_consumed"] == 60
    assert latest.meta["complete"] is True
    loaded = latest.load_arrays()
    np.testing.assert_array_equal(loaded["model/0000"], _arrays(30)["model/0000"])
    np.testing.assert_array_equal(loaded["extra"], np.arange(30))
    # best: only the newest is kept, independent of the rolling ones
    store.save(20, _arrays(20), {"validation_loss": 1.5}, kind="best")
    store.save(30, _arrays(30), {"validation_loss": 1.2}, kind="best")
    assert store.best().step == 30 and store.best().meta["validation_loss"] == 1.2
    assert len(store.checkpoints("best")) == 1


def test_partial_temporary_folder_is_ignored_and_removed(tmp_path):
    store = CheckpointStore(tmp_path, keep=3)
    store.save(100, _arrays(100), {})
    # what a kill -9 during the next save leaves behind: a half-written temporary folder
    partial = tmp_path / ".tmp-ckpt-00000200-999-abcdef12"
    partial.mkdir()
    (partial / "variables.npz").write_bytes(b"PK\x03\x04 truncated")
    assert store.latest().step == 100
    np.testing.assert_array_equal(store.latest().load_arrays()["extra"], np.arange(100))
    CheckpointStore(tmp_path)  # reopening cleans up
    assert not partial.exists()


def test_incomplete_or_corrupt_checkpoint_is_skipped(tmp_path):
    store = CheckpointStore(tmp_path, keep=5)
    store.save(1, _arrays(1), {})
    store.save(2, _arrays(2), {})
    (tmp_path / "ckpt-00000002" / "meta.yaml").write_text("complete: false\n")
    bad = tmp_path / "ckpt-00000003"
    bad.mkdir()
    with pytest.warns(UserWarning, match="ckpt-0000000[23]"):
        assert store.latest().step == 1


def test_failed_write_leaves_no_folder(tmp_path):
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "x") as temp:
        (temp / "a").write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileExistsError):
        with atomic_directory(tmp_path):
            pass


def test_object_arrays_are_refused(tmp_path):
    store = CheckpointStore(tmp_path)
    with pytest.raises(TypeError, match="dtype object"):
        store.save(1, {"bad": np.array([{"a": 1}], dtype=object)}, {})
    assert store.latest() is None


def test_kill_during_saves_leaves_a_loadable_checkpoint(tmp_path):
    """A real kill -9 at a random moment of a save loop: the newest complete one loads."""
    script = textwrap.dedent(
        f"""
        import numpy as np, sys
        from egenerator.train.checkpoint import CheckpointStore
        store = CheckpointStore({str(tmp_path)!r}, keep=2)
        big = np.random.default_rng(0).normal(size=(400, 1000))
        step = 0
        while True:
            step += 1
            store.save(step, {{"w": big + step}}, {{"step_value": step}})
            if step == 2:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3 + np.random.default_rng(7).uniform(0, 0.3))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = CheckpointStore(tmp_path, keep=2)
    latest = store.latest()
    assert latest is not None and latest.step >= 2
    w = latest.load_arrays()["w"]
    assert w.shape == (400, 1000)
    np.testing.assert_allclose(w[0, 0] - latest.step, np.random.default_rng(0).normal(size=1)[0])
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


class _Tiny(tf.Module):
    def __init__(self, n=3):
        super().__init__()
        self.kernel = tf.Variable(tf.random.stateless_normal([2, n], seed=[1, 2]), name="kernel")
        self.bias = tf.Variable(tf.zeros([n]), name="bias")


def test_state_round_trip_including_adam_and_rng(tmp_path):
    model = _Tiny()
    opt = tf.keras.optimizers.Adam(0.1, amsgrad=True)
    opt.build(model.trainable_variables)
    for _ in range(3):
        opt.apply_gradients([(tf.ones_like(v) * 0.3, v) for v in model.trainable_variables])
    rng = tf.random.Generator.from_seed(5)
    rng.normal([3])
    arrays, meta = capture_state(model, opt, rng)
    store = CheckpointStore(tmp_path)
    store.save(3, arrays, meta)

    model2 = _Tiny()
    opt2 = tf.keras.optimizers.Adam(0.1, amsgrad=True)
    opt2.build(model2.trainable_variables)
    rng2 = tf.random.Generator.from_seed(99)
    restore_state(store.latest(), model2, opt2, rng2)
    assert int(opt2.iterations.numpy()) == 3
    for a, b in zip(
        model.variables + tuple(opt.variables),
        model2.variables + tuple(opt2.variables),
        strict=True,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(rng.normal([4]).numpy(), rng2.normal([4]).numpy())

    with pytest.raises(CheckpointError, match=r"shape \(2, 3\) in the checkpoint, \(2, 5\)"):
        restore_state(store.latest(), _Tiny(5))


def test_yaml_atomic_replace(tmp_path):
    target = tmp_path / "a.yaml"
    write_yaml_atomic(target, {"x": 1})
    write_yaml_atomic(target, {"x": 2, "y": [1, 2]})
    assert target.read_text().startswith("x: 2")
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]
