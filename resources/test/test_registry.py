"""Class registry: short names, dotted paths inside egenerator, old aliases, clear errors."""

from __future__ import annotations

import pytest
from egenerator.config import registry
from egenerator.config.registry import RegistryError, register, resolve_class


def test_short_names_resolve():
    from egenerator.model.multi_source.independent import IndependentMultiSource
    from egenerator.model.source.noise import NoiseSource

    assert resolve_class("NoiseSource", "k") is NoiseSource
    assert resolve_class("IndependentMultiSource", "k", kind="source") is IndependentMultiSource


def test_old_aliases_resolve():
    from egenerator.model.multi_source.independent import IndependentMultiSource
    from egenerator.model.source.noise import NoiseSource

    assert (
        resolve_class("egenerator.model.multi_source.independent.IndependentMultiSource", "k")
        is IndependentMultiSource
    )
    assert resolve_class("egenerator.model.source.noise.default.DefaultNoiseModel", "k") is (
        NoiseSource
    )
    cascade = resolve_class("egenerator.model.source.cascade.default.DefaultCascadeModel", "k")
    assert cascade.__name__ == "CascadeSource"
    for old in registry.ALIASES:
        assert registry.ALIASES[old] in registry.BUILTIN_MODULES


def test_dotted_paths_inside_egenerator():
    from egenerator.model.source.noise import NoiseSource

    assert resolve_class("egenerator.model.source.noise.NoiseSource", "k") is NoiseSource
    assert resolve_class("icecube.egenerator.model.source.noise.NoiseSource", "k") is NoiseSource


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("os.system", "outside egenerator"),
        ("numpy.random.RandomState", "outside egenerator"),
        ("egenerator.model.source.base.np", "not a registered"),  # a module attribute
        ("egenerator.model.source.base.Source", "not a registered"),  # unregistered class
        ("egenerator.nothing_here.Foo", "names no egenerator module"),
        ("DefaultCascade", "not a known class"),
        ("", "not a class name"),
        (3, "not a class name"),
    ],
)
def test_errors_name_key_path_value_and_valid_names(value, fragment):
    key = "model_settings.multi_source_bases.cascade.model_class"
    with pytest.raises(RegistryError) as info:
        resolve_class(value, key, kind="source")
    text = str(info.value)
    assert key in text and repr(value) in text and fragment in text
    assert "CascadeSource" in text and "NoiseSource" in text  # lists the valid names
    assert isinstance(info.value, ValueError)


def test_kind_mismatch():
    with pytest.raises(RegistryError, match="is a source class, not a loss class"):
        resolve_class("NoiseSource", "loss_module_settings.0.loss_module", kind="loss")


def test_register_rejects_foreign_and_duplicate_classes():
    class Foreign:  # defined in this test module, outside egenerator
        pass

    with pytest.raises(RegistryError, match="not defined inside"):
        register("Foreign")(Foreign)

    from egenerator.model.source.noise import NoiseSource

    fake = type("Impostor", (), {"__module__": NoiseSource.__module__})
    with pytest.raises(RegistryError, match="already taken"):
        register("NoiseSource")(fake)
    assert registry.registered_name(NoiseSource) == "NoiseSource"


def test_old_loss_module_alias_resolves_to_the_loss_module():
    cls = resolve_class("egenerator.loss.default.DefaultLossModule", "loss_module", kind="loss")
    assert cls.__module__.endswith("loss.module")
    assert resolve_class("DefaultLossModule", "loss_module", kind="loss") is cls
    with pytest.raises(RegistryError, match="is a loss class, not a source class"):
        resolve_class("DefaultLossModule", "model_settings.model_class", kind="source")
