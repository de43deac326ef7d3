"""The class registry: config class names -> egenerator classes, without arbitrary imports.

A config names a class either by its short name (``CascadeSource``), by a dotted path inside
egenerator (``egenerator.model.source.cascade.CascadeSource``; ``icecube.egenerator.`` works too)
or by a class path of the original egenerator listed in :data:`ALIASES`. Only classes decorated
with :func:`register` resolve: a config can never import a module outside egenerator nor reach an
unregistered object inside it.

The built-in classes live in modules to the right of ``config`` in the data flow (model, loss);
:data:`BUILTIN_MODULES` says which module defines each of them, and that module is imported
lazily, only when a config asks for the class.
"""

from __future__ import annotations

import importlib

# The package root: "egenerator" standalone, "icecube.egenerator" inside IceTray.
_ROOT_PACKAGE = __package__.rsplit(".", 1)[0]
_ROOT_SPELLINGS = ("egenerator.", "icecube.egenerator.")

#: Short name -> (kind, module relative to the package root) of every built-in class.
BUILTIN_MODULES: dict[str, tuple[str, str]] = {
    "IndependentMultiSource": ("source", "model.multi_source.independent"),
    "CascadeSource": ("source", "model.source.cascade"),
    "NoiseSource": ("source", "model.source.noise"),
    "OracleSource": ("source", "model.source.oracle"),
    "DefaultLossModule": ("loss", "loss.module"),
}

#: Class paths of the original egenerator (configs in the wild) -> our short names.
ALIASES: dict[str, str] = {
    "egenerator.model.multi_source.independent.IndependentMultiSource": "IndependentMultiSource",
    "egenerator.model.source.cascade.default.DefaultCascadeModel": "CascadeSource",
    "egenerator.model.source.noise.default.DefaultNoiseModel": "NoiseSource",
    "egenerator.loss.default.DefaultLossModule": "DefaultLossModule",
}

# short name -> (kind, class), filled by @register when a module is imported
_REGISTERED: dict[str, tuple[str, type]] = {}


class RegistryError(ValueError):
    """A config names a class that is not registered (the message names key path and value)."""


def register(name: str | None = None, kind: str = "source"):
    """Class decorator: make a class resolvable from configs under ``name`` (default: its name).

    Parameters
    ----------
    name : str, optional
        Short name used in configs; defaults to ``cls.__name__``.
    kind : str
        What the class is ("source", "loss", ...); :func:`resolve_class` can require a kind.

    Raises
    ------
    RegistryError
        If a different class is already registered under that name, or the class is not
        defined inside egenerator.
    """

    def decorator(cls: type) -> type:
        short = name or cls.__name__
        module = getattr(cls, "__module__", "")
        if not (module == _ROOT_PACKAGE or module.startswith(_ROOT_PACKAGE + ".")):
            raise RegistryError(
                f"register({short!r}): {module}.{cls.__qualname__} is not defined inside "
                f"{_ROOT_PACKAGE}; only egenerator classes can be registered"
            )
        existing = _REGISTERED.get(short)
        if existing is not None and existing[1] is not cls:
            raise RegistryError(
                f"register({short!r}): name already taken by "
                f"{existing[1].__module__}.{existing[1].__qualname__}"
            )
        _REGISTERED[short] = (kind, cls)
        cls.registry_name = short
        return cls

    return decorator


def valid_names(kind: str | None = None) -> list[str]:
    """Every short name (built-in or registered) of the given kind, sorted."""
    names = {n for n, (k, _) in BUILTIN_MODULES.items() if kind is None or k == kind}
    names |= {n for n, (k, _) in _REGISTERED.items() if kind is None or k == kind}
    return sorted(names)


def registered_name(cls: type) -> str:
    """The short name a registered class resolves from (what saved configs write)."""
    for short, (_, registered) in _REGISTERED.items():
        if registered is cls:
            return short
    raise RegistryError(f"{cls.__module__}.{cls.__qualname__} is not a registered class")


def _error(key_path: str, value, kind: str | None, reason: str) -> RegistryError:
    names = valid_names(kind)
    what = f"{kind} class" if kind else "class"
    aliases = sorted(a for a, s in ALIASES.items() if s in names)
    return RegistryError(
        f"{key_path}: {value!r} {reason}; valid {what} names: {', '.join(names)}"
        + (f" (old egenerator paths accepted: {', '.join(aliases)})" if aliases else "")
    )


def _import_builtin(short: str) -> None:
    if short in _REGISTERED or short not in BUILTIN_MODULES:
        return
    _, module = BUILTIN_MODULES[short]
    importlib.import_module(f"{_ROOT_PACKAGE}.{module}")


def resolve_class(name: str, key_path: str, kind: str | None = None) -> type:
    """The class a config names.

    Parameters
    ----------
    name : str
        Short name, dotted path inside egenerator, or an old egenerator path of :data:`ALIASES`.
    key_path : str
        Where the name stands in the config (for error messages), e.g.
        ``model_settings.multi_source_bases.cascade.model_class``.
    kind : str, optional
        Require a class of this kind ("source", "loss").

    Raises
    ------
    RegistryError
        Unknown name, a path outside egenerator, an unregistered object, or the wrong kind.
        The message names ``key_path``, the value and the valid names.
    """
    if not isinstance(name, str) or not name.strip():
        raise _error(key_path, name, kind, "is not a class name")
    text = ALIASES.get(name.strip(), name.strip())
    if "." in text:
        prefix = next((p for p in _ROOT_SPELLINGS if text.startswith(p)), None)
        if prefix is None:
            raise _error(key_path, name, kind, "is a path outside egenerator (not allowed)")
        module, _, attr = text[len(prefix) :].rpartition(".")
        if not module:
            raise _error(key_path, name, kind, "is not a class path")
        try:
            imported = importlib.import_module(f"{_ROOT_PACKAGE}.{module}")
        except ModuleNotFoundError:
            raise _error(key_path, name, kind, "names no egenerator module") from None
        cls = getattr(imported, attr, None)
        entry = next((e for e in _REGISTERED.values() if e[1] is cls), None)
        if cls is None or entry is None:
            raise _error(key_path, name, kind, "is not a registered egenerator class")
        found_kind = entry[0]
    else:
        try:
            _import_builtin(text)
        except ImportError as error:
            raise _error(
                key_path, name, kind, f"cannot be imported in this installation ({error})"
            ) from None
        if text not in _REGISTERED:
            raise _error(key_path, name, kind, "is not a known class")
        found_kind, cls = _REGISTERED[text]
    if kind is not None and found_kind != kind:
        raise _error(key_path, name, kind, f"is a {found_kind} class, not a {kind} class")
    return cls
