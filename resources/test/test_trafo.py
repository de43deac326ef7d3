"""The data trafo: statistics vs numpy, numpy/TF transforms, Jacobians, files, command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from egenerator.config import ConfigError
from egenerator.data.batch import EventBatch
from egenerator.data.pipeline import iterate_batches
from egenerator.data.trafo import DataTrafo, RunningMoments, TrafoError
from test_data_loader import PARAMS, base_settings, write_random_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory, small_detector):
    directory = tmp_path_factory.mktemp("trafo")
    for k in range(3):
        write_random_file(directory / f"f{k}.hdf5", small_detector, 300 + k, 15, run=k + 1)
    return str(directory / "*.hdf5")


def _batches(pattern, detector, n=None):
    with iterate_batches(pattern, base_settings(), PARAMS, detector, batch_size=10) as stream:
        batches = list(stream)
    return batches if n is None else batches[:n]


def _trafo(pattern, detector, **kwargs) -> tuple[DataTrafo, list[EventBatch]]:
    batches = _batches(pattern, detector, 3)
    return DataTrafo.from_batches(
        batches + _batches(pattern, detector), PARAMS, num_batches=3, **kwargs
    ), batches


def test_statistics_equal_numpy_on_concatenated_data(data, small_detector):
    trafo, used = _trafo(data, small_detector)
    joined = EventBatch.concatenate(used)
    assert trafo.num_events == joined.num_events == 30
    f = joined.parameters.copy()
    f[:, 5] = np.log1p(f[:, 5])  # cascade_energy: log by default
    np.testing.assert_array_equal(trafo.log_flags, [False] * 5 + [True, False])
    np.testing.assert_allclose(trafo.parameter_mean, f.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(trafo.parameter_std, f.std(axis=0) + 1e-6, rtol=1e-12)
    log_q = np.log1p(joined.dom_charge)
    np.testing.assert_allclose(
        trafo.dom_charge_log_mean, log_q.mean(axis=0), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(trafo.dom_charge_log_std, log_q.std(axis=0) + 1e-6, rtol=1e-12)
    assert trafo.num_doms == small_detector.num_doms
    assert trafo.settings["num_batches_used"] == 3


def test_running_moments_are_stable_for_large_offsets():
    rng = np.random.default_rng(0)
    values = 1e8 + rng.normal(0.0, 1e-2, size=(4000, 3))
    moments = RunningMoments(3)
    for chunk in np.array_split(values, 17):
        moments.update(chunk)
    np.testing.assert_allclose(moments.mean, values.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(moments.std, values.std(axis=0), rtol=1e-6)


def test_trafo_log_options(data, small_detector):
    batches = _batches(data, small_detector, 2)
    flags = [False, False, False, False, False, True, True]
    as_list = DataTrafo.from_batches(batches, PARAMS, trafo_log=flags)
    as_map = DataTrafo.from_batches(batches, PARAMS, trafo_log={"cascade_time": True})
    with pytest.raises(TrafoError, match="parameter 'cascade_x' is log-transformed but has"):
        # negative x values: log1p is undefined below -1
        DataTrafo.from_batches(batches, PARAMS, trafo_log=True)
    np.testing.assert_array_equal(as_map.log_flags, flags)
    np.testing.assert_array_equal(as_list.log_flags, flags)
    with pytest.raises(ConfigError, match="has 2 flags for 7 parameters"):
        DataTrafo.from_batches(batches, PARAMS, trafo_log=[True, False])
    with pytest.raises(ConfigError, match=r"names \['energy'\] are not parameters"):
        DataTrafo.from_batches(batches, PARAMS, trafo_log={"energy": True})
    with pytest.raises(TrafoError, match="no events"):
        DataTrafo.from_batches([], PARAMS)


def test_numpy_and_tf_transforms_agree_and_invert(data, small_detector):
    import tensorflow as tf

    trafo, used = _trafo(data, small_detector)
    x = EventBatch.concatenate(used).parameters
    y = trafo.transform_parameters(x)
    np.testing.assert_allclose(np.mean(y, axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.std(y, axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(trafo.inverse_transform_parameters(y), x, rtol=1e-12, atol=1e-9)
    y_tf = trafo.transform_parameters(tf.constant(x))
    assert y_tf.dtype == tf.float64
    np.testing.assert_allclose(y_tf.numpy(), y, rtol=1e-12, atol=1e-12)
    back = trafo.inverse_transform_parameters(tf.constant(y))
    np.testing.assert_allclose(back.numpy(), x, rtol=1e-12, atol=1e-9)
    y32 = trafo.transform_parameters(tf.constant(x, dtype=tf.float32))
    assert y32.dtype == tf.float32
    np.testing.assert_allclose(y32.numpy(), y, rtol=1e-4, atol=1e-4)
    # gradients flow through the TF transform (the reconstruction minimises in trafo space)
    x_var = tf.Variable(x[:2])
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(trafo.transform_parameters(x_var))
    grad = tape.gradient(total, x_var).numpy()
    np.testing.assert_allclose(grad, trafo.jacobian_diagonal(x[:2]), rtol=1e-12)
    q = EventBatch.concatenate(used).dom_charge
    np.testing.assert_allclose(
        trafo.transform_dom_charge(tf.constant(q)).numpy(),
        trafo.transform_dom_charge(q),
        rtol=1e-12,
    )


def test_jacobian_and_covariance_against_finite_differences(data, small_detector):
    import tensorflow as tf

    trafo, used = _trafo(data, small_detector)
    x = EventBatch.concatenate(used).parameters[:4]
    eps = 1e-6 * np.maximum(np.abs(x), 1.0)
    fd = np.stack(
        [
            (
                trafo.transform_parameters(x + np.eye(7)[k] * eps[:, k : k + 1])
                - trafo.transform_parameters(x - np.eye(7)[k] * eps[:, k : k + 1])
            )[:, k]
            / (2 * eps[:, k])
            for k in range(7)
        ],
        axis=1,
    )
    np.testing.assert_allclose(trafo.jacobian_diagonal(x), fd, rtol=1e-6)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 7, 7))
    cov_x = a @ np.swapaxes(a, 1, 2)
    cov_y = trafo.transform_covariance(cov_x, x)
    j = np.stack([np.diag(v) for v in fd])
    np.testing.assert_allclose(cov_y, j @ cov_x @ j, rtol=1e-5)
    np.testing.assert_allclose(trafo.inverse_transform_covariance(cov_y, x), cov_x, rtol=1e-12)
    cov_y_tf = trafo.transform_covariance(tf.constant(cov_x), tf.constant(x))
    np.testing.assert_allclose(cov_y_tf.numpy(), cov_y, rtol=1e-12)
    # keep_log: covariance of (x, ..., log1p(E), ...) <-> normalised: just 1/std scaling
    cov_f = trafo.inverse_transform_covariance(cov_y, x, keep_log=True)
    np.testing.assert_allclose(cov_f, cov_y * np.outer(trafo.parameter_std, trafo.parameter_std))


def test_save_load_roundtrip(data, small_detector, tmp_path):
    trafo, _ = _trafo(data, small_detector, settings={"model_dir": "x"})
    trafo.save(tmp_path / "t")
    loaded = DataTrafo.load(tmp_path / "t")
    for name in ("parameter_mean", "parameter_std", "dom_charge_log_mean", "dom_charge_log_std"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(trafo, name))
    assert loaded.parameter_names == PARAMS
    description = yaml.safe_load((tmp_path / "t" / "trafo.yaml").read_text())
    assert description["trafo_log"][5] is True and "numpy" in description["versions"]
    with np.load(tmp_path / "t" / "trafo.npz", allow_pickle=False) as arrays:
        assert arrays["parameter_mean"].dtype == np.float64
    with pytest.raises(TrafoError, match="exists already"):
        trafo.save(tmp_path / "t")
    description["format_version"] = 99
    (tmp_path / "t" / "trafo.yaml").write_text(yaml.safe_dump(description))
    with pytest.raises(TrafoError, match="format_version 99"):
        DataTrafo.load(tmp_path / "t")
    with pytest.raises(TrafoError, match="trafo.yaml: missing"):
        DataTrafo.load(tmp_path / "nothing")


def _config(tmp_path, pattern, extra=None, **trafo):
    extra = extra or {}
    config = {
        "unique_name": "unit",
        "detector_settings": {"geometry": "det.csv"},  # relative to the config's folder
        "data_handler_settings": base_settings(),
        "data_iterator_settings": {
            "trafo": {
                "input_data": [pattern],
                "batch_size": 10,
                "sample_randomly": False,
                "pick_random_files_forever": False,
            }
        },
        "data_trafo_settings": {
            "num_batches": 2,
            "model_dir": "trafo_{unique_name}",
            **trafo,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config, **extra}))
    return path


def test_trafo_command_and_script(data, small_detector, tmp_path, capsys):
    from egenerator.cli import main

    small_detector.to_csv(tmp_path / "det.csv")
    path = _config(tmp_path, data)
    assert main(["trafo", str(path), "--parameter-names", ",".join(PARAMS)]) == 0
    assert "saved to" in capsys.readouterr().out
    saved = DataTrafo.load(tmp_path / "trafo_unit")
    direct = DataTrafo.from_batches(_batches(data, small_detector), PARAMS, num_batches=2)
    np.testing.assert_allclose(saved.parameter_mean, direct.parameter_mean, rtol=1e-12)
    np.testing.assert_allclose(saved.dom_charge_log_std, direct.dom_charge_log_std, rtol=1e-12)
    assert saved.settings["num_batches_used"] == 2 and saved.num_events == 20
    # without names (and no model builder): the label table's columns, t -> time
    out = tmp_path / "from_labels"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    script = REPO / "resources" / "scripts" / "create_trafo_model.py"
    result = subprocess.run(
        [sys.executable, str(script), str(path), "--output", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    from_labels = DataTrafo.load(out)
    assert from_labels.parameter_names == PARAMS
    np.testing.assert_allclose(from_labels.parameter_std, saved.parameter_std, rtol=1e-12)
    # the script also runs from a checkout where `egenerator` is not importable
    code = (
        "import runpy, sys; sys.modules['egenerator'] = None; "
        f"sys.argv = ['create_trafo_model.py', {str(path)!r}, '--output', {str(out)!r}, "
        "'--overwrite']; runpy.run_path(" + repr(str(script)) + ", run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "saved to" in result.stdout


def test_parameter_names_from_the_model_builder(data, small_detector, tmp_path):
    """With model_settings, the trafo takes the model's parameter names (model builder)."""
    from egenerator.data.trafo_builder import create_trafo_model

    small_detector.to_csv(tmp_path / "det.csv")
    model_settings = {
        "class": "IndependentMultiSource",
        "config": {"sources": {"cascade": "cascade", "noise": "noise"}},
        "children": {
            "cascade": {
                "class": "CascadeSource",
                "config": {"num_hidden_layers": 1, "num_units": 4, "num_time_components": 1},
            },
            "noise": {"class": "NoiseSource", "config": {}},
        },
    }
    path = _config(tmp_path, data, extra={"model_settings": model_settings})
    trafo, directory = create_trafo_model(path)
    assert directory == str(tmp_path / "trafo_unit")
    assert trafo.parameter_names == PARAMS
