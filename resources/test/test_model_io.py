"""Component save/load (config.yaml + weights.npz, nested folders) and the model builder."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from egenerator.config.registry import RegistryError
from egenerator.data.batch import EventBatch
from egenerator.detector import DetectorTable, ic86_like
from egenerator.model.builder import ModelConfigError, build_model
from egenerator.model.component_io import (
    ComponentIOError,
    load_component,
    save_component,
)
from egenerator.model.multi_source.independent import IndependentMultiSource
from egenerator.model.source.base import SourceConfigError
from egenerator.model.source.cascade import CascadeSource
from egenerator.model.source.noise import NoiseSource

SMALL = {"num_units": 16, "seed": 3}


@pytest.fixture(scope="module")
def detector() -> DetectorTable:
    full = ic86_like()
    keep = np.isin(full.string, [1, 2, 3])
    return DetectorTable(
        **{k: getattr(full, k)[keep] for k in ("string", "om", "x", "y", "z")},
        efficiency=full.efficiency[keep],
        noise_rate_hz=full.noise_rate_hz[keep],
        dead=np.zeros(int(keep.sum()), dtype=bool),
    )


@pytest.fixture(scope="module")
def batch(detector) -> EventBatch:
    rng = np.random.default_rng(0)
    n, d = 60, detector.num_doms
    event = np.repeat([0, 1], n // 2)
    dom = rng.integers(0, d, n)
    time = rng.uniform(9000, 13000, n)
    dom_charge = np.zeros((2, d))
    np.add.at(dom_charge, (event, dom), 1.0)
    return EventBatch(
        parameters=np.zeros((2, 0)),
        pulse_charge_pe=np.ones(n),
        pulse_time_ns=time,
        pulse_event=event,
        pulse_dom=dom,
        dom_charge=dom_charge,
        dom_valid=np.ones((2, d), dtype=bool),
        time_window_ns=np.array([[0.0, 20000.0], [8000.0, 14000.0]]),
        window_exclusions_ns=np.array([[9500.0, 10500.0]]),
        window_event=np.array([1]),
        window_dom=np.array([dom[-1]]),
        event_id=np.zeros((2, 4), dtype=np.int64),
        weights=np.ones(2),
    )


def params_for(detector: DetectorTable, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = detector.positions.mean(0)
    return np.column_stack(
        [
            c[0] + rng.uniform(-40, 40, 2),
            c[1] + rng.uniform(-40, 40, 2),
            rng.uniform(-200, 200, 2),
            rng.uniform(0.2, 3.0, 2),
            rng.uniform(0, 6.2, 2),
            rng.uniform(1e3, 1e5, 2),
            rng.uniform(9900, 10100, 2),
        ]
    )


def perturb(source) -> None:
    """Move all weights off their initial values (so a fresh build cannot pass by chance)."""
    rng = np.random.default_rng(42)
    for var in source.trainable_variables:
        var.assign(var + rng.normal(0, 0.05, var.shape).astype(var.dtype.as_numpy_dtype))


def assert_same(a: dict, b: dict) -> None:
    for key in (
        "dom_charges",
        "dom_charges_variance",
        "pulse_pdf",
        "pulse_cdf",
        "dom_cdf_exclusion",
    ):
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_cascade_save_load_identical(tmp_path, detector, batch):
    source = CascadeSource(SMALL, detector, "cascade")
    perturb(source)
    folder = save_component(source, tmp_path / "cascade")
    described = yaml.safe_load((folder / "config.yaml").read_text())
    assert described["class"] == "CascadeSource"
    assert described["parameter_names"] == list(source.parameter_names)
    assert described["config"]["num_units"] == 16 and described["config"]["num_hidden_layers"] == 2
    assert set(described["versions"]) == {"egenerator", "tensorflow", "numpy", "python"}
    with np.load(folder / "weights.npz", allow_pickle=False) as weights:
        assert set(weights.files) == set(source.own_variables())
    loaded = load_component(folder, detector)
    assert isinstance(loaded, CascadeSource) and loaded.source_name == "cascade"
    params = params_for(detector, 1)
    assert_same(source(params, batch), loaded(params, batch))


def test_nested_save_load_identical(tmp_path, detector, batch):
    inner = IndependentMultiSource(
        {"sources": {"a": "cascade", "b": "cascade"}},
        detector,
        "pair",
        bases={"cascade": CascadeSource(SMALL, detector)},
    )
    model = IndependentMultiSource(
        {"sources": {"pair": "pair", "noise": "noise"}},
        detector,
        bases={"pair": inner, "noise": NoiseSource({}, detector)},
    )
    perturb(model)
    folder = save_component(model, tmp_path / "model")
    assert (folder / "pair" / "cascade" / "weights.npz").is_file()
    assert (folder / "noise" / "weights.npz").is_file()
    assert yaml.safe_load((folder / "config.yaml").read_text())["children"] == ["pair", "noise"]
    loaded = load_component(folder, detector)
    assert loaded.parameter_names == model.parameter_names
    params = np.concatenate([params_for(detector, 2), params_for(detector, 3)], axis=1)
    a, b = model(params, batch), loaded(params, batch)
    assert_same(a, b)
    assert_same(
        a["nested_results"]["pair"]["nested_results"]["b"],
        b["nested_results"]["pair"]["nested_results"]["b"],
    )


def test_trained_cascade_reused_via_load_dir(tmp_path, detector, batch):
    trained = CascadeSource(SMALL, detector, "my_cascade")
    perturb(trained)
    save_component(trained, tmp_path / "trained" / "cascade")
    alone = load_component(tmp_path / "trained" / "cascade", detector)
    settings = {  # old spelling, relative load_dir
        "model_class": "egenerator.model.multi_source.independent.IndependentMultiSource",
        "config": {"sources": {"c1": "cascade", "c2": "cascade", "noise": "noise"}},
        "multi_source_bases": {
            "cascade": {"load_dir": "trained/cascade", "data_trafo_settings": {}},
            "noise": {
                "model_class": "egenerator.model.source.noise.default.DefaultNoiseModel",
                "config": {"trainable": False},
            },
        },
    }
    model = build_model(settings, detector, base_dir=tmp_path)
    assert model.parameter_names[:8] == (
        "c1_x",
        "c1_y",
        "c1_z",
        "c1_zenith",
        "c1_azimuth",
        "c1_energy",
        "c1_time",
        "c2_x",
    )
    p1, p2 = params_for(detector, 4), params_for(detector, 5)
    result = model(np.concatenate([p1, p2], axis=1), batch)
    np.testing.assert_allclose(
        result["component_dom_charges"]["c2"], alone(p2, batch)["dom_charges"], rtol=1e-12
    )
    np.testing.assert_allclose(
        result["nested_results"]["c1"]["pulse_pdf"], trained(p1, batch)["pulse_pdf"], rtol=1e-12
    )
    assert model.children["cascade"].source_name == "cascade"
    # the whole new hypothesis saves and loads again (trained weights included)
    save_component(model, tmp_path / "hypothesis")
    again = load_component(tmp_path / "hypothesis", detector)
    assert_same(result, again(np.concatenate([p1, p2], axis=1), batch))


def test_builder_new_spelling_equals_old(detector):
    new = {
        "class": "IndependentMultiSource",
        "config": {"sources": {"cascade": "cascade", "noise": "noise"}},
        "children": {
            "cascade": {"class": "CascadeSource", "config": SMALL},
            "noise": {"class": "NoiseSource"},
        },
    }
    old = {
        "model_class": "egenerator.model.multi_source.independent.IndependentMultiSource",
        "config": {"sources": {"cascade": "cascade", "noise": "noise"}},
        "multi_source_bases": {
            "cascade": {
                "model_class": "egenerator.model.source.cascade.default.DefaultCascadeModel",
                "config": SMALL,
            },
            "noise": {"model_class": "egenerator.model.source.noise.default.DefaultNoiseModel"},
        },
    }
    a, b = build_model(new, detector), build_model(old, detector)
    assert a.parameter_names == b.parameter_names
    assert a.parameter_names[0] == "cascade_x" and len(a.parameter_names) == 7
    for va, vb in zip(a.trainable_variables, b.trainable_variables, strict=True):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())  # seeded initialisation


@pytest.mark.parametrize(
    "settings, error, fragment",
    [
        (
            {"class": "CascadeSource", "weights": 1},
            ModelConfigError,
            r"model_settings: unknown key\(s\) \['weights'\]",
        ),
        (
            {"class": "IndependentMultiSource", "children": {"c": {"clas": "CascadeSource"}}},
            ModelConfigError,
            r"model_settings\.children\.c: unknown key\(s\) \['clas'\]",
        ),
        (
            {
                "model_class": "IndependentMultiSource",
                "multi_source_bases": {"c": {"model_class": "Cascade"}},
            },
            RegistryError,
            r"model_settings\.multi_source_bases\.c\.model_class: 'Cascade' is not a known",
        ),
        (
            {
                "class": "IndependentMultiSource",
                "children": {"c": {"class": "CascadeSource", "config": {"num_layers": 2}}},
            },
            SourceConfigError,
            r"model_settings\.children\.c\.config: unknown key\(s\) \['num_layers'\]",
        ),
        (
            {"class": "CascadeSource", "children": {"x": {"class": "NoiseSource"}}},
            ModelConfigError,
            r"model_settings\.children: CascadeSource is not a multi-source",
        ),
        ({"class": "IndependentMultiSource"}, ModelConfigError, "needs 'children'"),
        ({"config": {}}, ModelConfigError, "missing 'class'"),
        (
            {"class": "NoiseSource", "model_class": "NoiseSource"},
            ModelConfigError,
            "either 'class' or 'model_class'",
        ),
        ({"load_dir": "/nonexistent/folder"}, ModelConfigError, r"model_settings\.load_dir"),
        (["CascadeSource"], ModelConfigError, "expected a mapping"),
    ],
)
def test_builder_errors_name_the_key_path(detector, settings, error, fragment):
    with pytest.raises(error, match=fragment):
        build_model(settings, detector)


def test_load_dir_must_agree_and_files_are_checked(tmp_path, detector):
    save_component(CascadeSource(SMALL, detector), tmp_path / "c")
    with pytest.raises(ModelConfigError, match=r"class: 'NoiseSource' but"):
        build_model({"class": "NoiseSource", "load_dir": str(tmp_path / "c")}, detector)
    with pytest.raises(ModelConfigError, match=r"config\.num_units: 32 differs"):
        build_model({"load_dir": str(tmp_path / "c"), "config": {"num_units": 32}}, detector)
    same = build_model({"load_dir": str(tmp_path / "c"), "config": {"num_units": 16}}, detector)
    assert isinstance(same, CascadeSource)

    # a config.yaml naming a class outside egenerator never imports it
    description = yaml.safe_load((tmp_path / "c" / "config.yaml").read_text())
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "config.yaml").write_text(
        yaml.safe_dump({**description, "class": "subprocess.Popen"})
    )
    with pytest.raises(RegistryError, match="outside egenerator"):
        load_component(tmp_path / "evil", detector)

    # weights of the wrong shape (config edited after training)
    (tmp_path / "c" / "config.yaml").write_text(
        yaml.safe_dump({**description, "config": {**description["config"], "num_units": 8}})
    )
    with pytest.raises(ComponentIOError, match=r"weights\.npz: weight 'dense_0/kernel' has shape"):
        load_component(tmp_path / "c", detector)

    # a pickled object array is refused
    (tmp_path / "c" / "config.yaml").write_text(yaml.safe_dump(description))
    np.savez(tmp_path / "c" / "weights.npz", **{"dense_0/kernel": np.array([object()])})
    with pytest.raises(ComponentIOError, match="cannot read weights"):
        load_component(tmp_path / "c", detector)

    with pytest.raises(ComponentIOError, match="no such file"):
        load_component(tmp_path / "missing", detector)
