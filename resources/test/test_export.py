"""Export folders: written by `egenerator export`, reloaded with identical outputs, format checks,
and reuse of the exported `cascade` component in a two-cascade hypothesis."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from egenerator.cli import main as cli_main
from egenerator.export import (
    FORMAT_VERSION,
    ExportError,
    ExportFormatError,
    export_model,
    load_exported,
)
from egenerator.io.writer import write_simulation
from egenerator.model.builder import build_model
from egenerator.sim.sampler import simulate_events
from egenerator.train.checkpoint import CheckpointStore
from egenerator.train.from_config import (
    _validation_batches,
    load_trained_model,
    prepare_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RESULT_KEYS = ("dom_charges", "dom_charges_variance", "pulse_pdf", "pulse_cdf", "dom_cdf_exclusion")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_detector):
    """Simulate, build the trafo, train 10 + 10 (resumed) steps and export, through the CLI."""
    root = tmp_path_factory.mktemp("tiny_export")
    small_detector.to_csv(root / "detector.csv")
    (root / "data").mkdir()
    for name, events, seed in (("train_0", 48, 3), ("validation_0", 16, 4)):
        write_simulation(
            root / "data" / f"{name}.hdf5",
            simulate_events(events, seed, small_detector, energy_range_gev=(1e3, 1e5)),
            small_detector,
        )
    raw = yaml.safe_load((CONFIGS / "tiny_test.yaml").read_text())
    raw["unique_name"] = "exported_tiny"
    raw["training_settings"].update(validation_frequency=10, save_frequency=10)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert cli_main(["trafo", str(config)]) == 0
    assert cli_main(["train", str(config), "--steps", "10", "--no-progress"]) == 0
    assert cli_main(["train", str(config), "--steps", "20", "--resume", "--no-progress"]) == 0
    out = root / "exported"
    assert cli_main(["export", str(config), "-o", str(out)]) == 0
    return {"root": root, "config": config, "export": out}


def test_export_layout_and_manifest(trained):
    out = trained["export"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["export.yaml", "model", "trafo", "detector.csv", "config.yaml", "reconstruction.yaml"]
    )
    manifest = yaml.safe_load((out / "export.yaml").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["parameter_names"][:2] == ["cascade_x", "cascade_y"]
    assert manifest["checkpoint"]["kind"] == "best"
    assert "tensorflow" in manifest["package_versions"]
    assert (out / "model" / "cascade" / "weights.npz").is_file()
    assert (out / "model" / "noise" / "config.yaml").is_file()
    # nothing in the folder needs pickle
    for npz in out.rglob("*.npz"):
        with np.load(npz, allow_pickle=False) as data:
            for key in data.files:
                assert data[key].dtype != object
    assert not any(p.name.startswith(".tmp-") for p in out.parent.iterdir())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["unique_name"] == "exported_tiny"
    stages = sorted((trained["root"] / "models" / "exported_tiny" / "stages").iterdir())
    assert [yaml.safe_load(p.read_text())["start_step"] for p in stages] == [0, 10]
    reco = yaml.safe_load((out / "reconstruction.yaml").read_text())
    assert "reconstruction_settings" in reco and "I3ParticleMapping" in reco


def test_reloaded_model_gives_identical_outputs(trained):
    exported = load_exported(trained["export"])
    config = prepare_config(trained["config"])
    best = CheckpointStore(
        Path(config["model_manager_settings"]["config"]["manager_dir"]) / "checkpoints"
    ).best()
    assert exported.manifest["checkpoint"]["step"] == best.step
    model, detector, _ = load_trained_model(config, "best")
    assert np.array_equal(exported.detector.positions, detector.positions)
    batch = _validation_batches(config, model.parameter_names, detector)[0]
    want = model(batch["parameters"], batch)
    got = exported.source(batch["parameters"], batch)
    for key in RESULT_KEYS:
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]), err_msg=key)
    # the trafo is the one the trafo command wrote
    trafo_dir = Path(config["data_trafo_settings"]["model_dir"])
    with np.load(trafo_dir / "trafo.npz") as stored:
        np.testing.assert_array_equal(exported.trafo.parameter_mean, stored["parameter_mean"])


def _copy(trained, tmp_path, name) -> Path:
    target = tmp_path / name
    shutil.copytree(trained["export"], target)
    return target


def _edit_manifest(path: Path, edit) -> None:
    manifest = yaml.safe_load((path / "export.yaml").read_text())
    edit(manifest)
    (path / "export.yaml").write_text(yaml.safe_dump(manifest))


def test_incompatible_exports_are_reported(trained, tmp_path):
    missing = _copy(trained, tmp_path, "missing")
    shutil.rmtree(missing / "trafo")
    (missing / "detector.csv").unlink()
    with pytest.raises(ExportFormatError) as info:
        load_exported(missing)
    assert info.value.problems == ["missing trafo", "missing detector.csv"]

    newer = _copy(trained, tmp_path, "newer")
    _edit_manifest(newer, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ExportFormatError, match=f"format_version {FORMAT_VERSION + 1} .* newer"):
        load_exported(newer)

    changed = _copy(trained, tmp_path, "changed")
    _edit_manifest(changed, lambda m: (m.pop("num_doms"), m.update(extra_key=1)))
    with pytest.raises(ExportFormatError) as info:
        load_exported(changed)
    text = str(info.value)
    assert "missing key(s) ['num_doms']" in text and "unknown key(s) ['extra_key']" in text

    wrong = _copy(trained, tmp_path, "wrong_names")
    _edit_manifest(wrong, lambda m: m.update(parameter_names=["a"]))
    with pytest.raises(ExportFormatError, match="parameter names"):
        load_exported(wrong)

    with pytest.raises(ExportFormatError, match="no export.yaml"):
        load_exported(trained["root"] / "data")

    bad_class = _copy(trained, tmp_path, "bad_class")
    description = yaml.safe_load((bad_class / "model" / "noise" / "config.yaml").read_text())
    description["class"] = "os.system"
    (bad_class / "model" / "noise" / "config.yaml").write_text(yaml.safe_dump(description))
    with pytest.raises(ValueError, match="os.system"):
        load_exported(bad_class)


def test_export_refuses_to_overwrite_and_replaces_atomically(trained, tmp_path):
    target = tmp_path / "again"
    export_model(trained["config"], target, checkpoint="latest")
    manifest = yaml.safe_load((target / "export.yaml").read_text())
    assert manifest["checkpoint"]["kind"] == "ckpt" and manifest["checkpoint"]["step"] == 20
    with pytest.raises(ExportError, match="exists already"):
        export_model(trained["config"], target)
    export_model(trained["config"], target, overwrite=True)
    assert yaml.safe_load((target / "export.yaml").read_text())["checkpoint"]["kind"] == "best"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]
    other = tmp_path / "not_an_export"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an egenerator export"):
        export_model(trained["config"], other, overwrite=True)


def test_export_without_trafo_names_the_key(trained, tmp_path):
    raw = yaml.safe_load(trained["config"].read_text())
    raw["data_trafo_settings"]["model_dir"] = str(tmp_path / "no_trafo")
    path = trained["root"] / "no_trafo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ExportError, match="data_trafo_settings.model_dir"):
        export_model(path, tmp_path / "out")


def test_exported_cascade_reused_in_two_cascade_hypothesis(trained):
    """load_dir of the exported `cascade` inside a new 2-cascade + noise hypothesis."""
    exported = load_exported(trained["export"])
    detector = exported.detector
    settings = {
        "class": "IndependentMultiSource",
        "config": {"sources": {"c1": "cascade", "c2": "cascade", "noise": "noise"}},
        "children": {
            "cascade": {"load_dir": str(trained["export"] / "model" / "cascade")},
            "noise": {"load_dir": str(trained["export"] / "model" / "noise")},
        },
    }
    model = build_model(settings, detector)
    assert list(model.parameter_names[:8]) == [
        "c1_x",
        "c1_y",
        "c1_z",
        "c1_zenith",
        "c1_azimuth",
        "c1_energy",
        "c1_time",
        "c2_x",
    ]
    config = prepare_config(trained["config"])
    batch = _validation_batches(config, exported.parameter_names, detector)[0]
    truth = np.asarray(batch["parameters"], dtype=np.float32)
    shifted = truth.copy()
    shifted[:, 0] += 40.0  # second cascade 40 m away in x
    shifted[:, 5] *= 0.5  # with half the energy
    params = np.concatenate([truth, shifted], axis=1)
    results = model(params, batch)
    cascade = exported.source.children["cascade"]
    noise = exported.source.children["noise"]
    first = cascade(truth, batch)["dom_charges"]
    second = cascade(shifted, batch)["dom_charges"]
    background = noise(np.zeros((len(truth), 0), np.float32), batch)["dom_charges"]
    np.testing.assert_allclose(
        np.asarray(results["dom_charges"]),
        np.asarray(first) + np.asarray(second) + np.asarray(background),
        rtol=1e-10,
    )
    for name, var in cascade.own_variables().items():
        np.testing.assert_array_equal(
            model.children["cascade"].own_variables()[name].numpy(), var.numpy()
        )
