"""Config loading: schema validation with key paths, defaults, {unique_name} expansion."""

from __future__ import annotations

import pytest
import yaml
from egenerator.config import (
    ConfigError,
    describe_schema,
    dump_config,
    load_config,
    schema_markdown,
)

MINIMAL = {
    "unique_name": "demo",
    "data_handler_settings": {"data_settings": {"pulse_key": "InIceDSTPulses"}},
}


def _write(tmp_path, config, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_minimal_config_gets_every_default(tmp_path):
    path = _write(tmp_path, MINIMAL)
    config = load_config(path)
    data = config["data_handler_settings"]["data_settings"]
    assert data["time_window_buffer"] == 100.0
    assert data["dom_exclusions_key"] == []
    assert config["data_trafo_settings"]["norm_constant"] == 1e-6
    assert config["data_trafo_settings"]["model_dir"] == "trafo_models/demo"
    assert config["model_manager_settings"]["config"]["manager_dir"] == "models/demo"
    assert config["data_iterator_settings"]["test"]["sample_randomly"] is False
    assert config["loss_module_settings"][0]["config"]["float_precision"] == "float64"
    assert config["training_settings"]["optimizer_settings"]["learning_rate"] == 0.001
    assert config["model_settings"] == {}
    # the resolved config is stable: loading it again changes nothing
    dumped = tmp_path / "resolved.yaml"
    dump_config(config, dumped)
    assert load_config(dumped) == config


def test_values_are_normalised(tmp_path):
    config = dict(MINIMAL)
    config["data_handler_settings"] = {
        "data_settings": {"pulse_key": "P", "dom_exclusions_key": "BrightDOMs"},
        "label_settings": {"trafo_log": {"cascade_energy": True}},
        "filter_settings": {"constraints": [["LabelsDeepLearning", "cascade_energy", ">", 1000]]},
    }
    config["data_trafo_settings"] = {"norm_constant": "1e-6", "num_batches": 1e3}
    config["data_iterator_settings"] = {
        "training": {"input_data": "data/{unique_name}/*.hdf5", "batch_size": 16}
    }
    config["training_settings"] = {
        "optimizer_settings": {"learning_rate": {"schedule": "piecewise"}, "amsgrad": True}
    }
    resolved = load_config(_write(tmp_path, config))
    data = resolved["data_handler_settings"]
    assert data["data_settings"]["dom_exclusions_key"] == ["BrightDOMs"]
    assert data["filter_settings"]["constraints"] == [
        ["LabelsDeepLearning", "cascade_energy", ">", 1000.0]
    ]
    assert resolved["data_trafo_settings"]["norm_constant"] == 1e-6
    assert resolved["data_trafo_settings"]["num_batches"] == 1000
    assert resolved["data_iterator_settings"]["training"]["input_data"] == ["data/demo/*.hdf5"]
    assert resolved["data_iterator_settings"]["training"]["num_jobs"] == 1
    assert resolved["training_settings"]["optimizer_settings"]["amsgrad"] is True


@pytest.mark.parametrize(
    "patch, message",
    [
        (
            {"training_settings": {"num_training_iterations": "abc"}},
            "training_settings.num_training_iterations: expected int, got 'abc'",
        ),
        (
            {"data_handler_settings": {"data_settings": {}}},
            "data_handler_settings.data_settings.pulse_key: missing",
        ),
        ({"unknown_section": 1}, "unknown_section: unknown key"),
        (
            {"data_handler_settings": {"data_settings": {"pulse_key": "P", "pulse_kye": "x"}}},
            "data_handler_settings.data_settings.pulse_kye: unknown key",
        ),
        (
            {
                "data_handler_settings": {
                    "data_settings": {"pulse_key": "P"},
                    "filter_settings": {"constraints": [["T", "c", "=<", 1]]},
                }
            },
            "data_handler_settings.filter_settings.constraints[0][2]: expected one of",
        ),
        (
            {"data_trafo_settings": {"norm_constant": -1.0}},
            "data_trafo_settings.norm_constant: must be >= 0.0",
        ),
        (
            {"data_iterator_settings": {"training": {"sample_randomly": "yes"}}},
            "data_iterator_settings.training.sample_randomly: expected bool, got 'yes'",
        ),
        ({"model_settings": ["not", "a", "mapping"]}, "model_settings: expected mapping"),
        (
            {"training_settings": {"optimizer_settings": {"learning_rate": "fast"}}},
            "training_settings.optimizer_settings.learning_rate: expected float or mapping",
        ),
    ],
)
def test_errors_name_key_path_and_file(tmp_path, patch, message):
    config = {**MINIMAL, **patch}
    path = _write(tmp_path, config)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_unique_name_and_several_problems_reported_together():
    with pytest.raises(ConfigError) as info:
        load_config({"seed": "x"})
    text = str(info.value)
    assert "unique_name: missing" in text
    assert "seed: expected int" in text
    assert "data_handler_settings: missing" in text
    assert len(info.value.problems) == 3


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listed)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("unique_name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_input_dict_is_not_modified():
    raw = {"unique_name": "a", "data_handler_settings": {"data_settings": {"pulse_key": "P"}}}
    load_config(raw)
    assert raw == {
        "unique_name": "a",
        "data_handler_settings": {"data_settings": {"pulse_key": "P"}},
    }


def test_every_key_is_documented():
    rows = describe_schema()
    assert len(rows) > 80
    for key, type_name, _default, doc in rows:
        assert doc and type_name, key
    assert "data_handler_settings.data_settings.pulse_key" in schema_markdown()
