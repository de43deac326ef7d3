"""Loss modules: weighted sums of named likelihood terms, built from ``loss_module_settings``.

A config's ``loss_module_settings`` is a list (a single mapping is accepted too) of::

    {loss_module: <name or dotted path>, loss_module_weight: w,
     config: {float_precision, add_normalization_term, loss_function_name}}

``loss_function_name`` is one term name or a list of them (see :data:`~.terms.TERMS`).
Each entry becomes a :class:`LossModule` (the sum of its terms); :class:`MultiLossModule` sums the
modules with their weights. Calling either returns ``(totals [B], {term name: [B]})``, float64
per-event negative log-likelihoods (event weights are applied by the caller, e.g. the trainer).

Accepted ``loss_module`` names (:data:`LOSS_MODULE_NAMES`): ``DefaultLossModule`` and
``LossModule``, our dotted paths (``egenerator.loss.module.LossModule`` etc., also with the
``icecube.`` prefix) and the class path of the original framework,
``egenerator.loss.default.DefaultLossModule`` (:data:`OLD_LOSS_MODULE_PATHS`). The global alias
table lives in ``config/registry.py``; this small table lets the loss package stand alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from ..config.registry import register
from .errors import LossConfigError
from .terms import FLOAT_PRECISIONS, TERMS

#: Class paths of the original egenerator -> our loss-module name.
OLD_LOSS_MODULE_PATHS: dict[str, str] = {
    "egenerator.loss.default.DefaultLossModule": "DefaultLossModule",
}

DEFAULT_LOSS_CONFIG: dict[str, Any] = {
    "float_precision": "float64",
    "add_normalization_term": True,
    "loss_function_name": ["unbinned_pulse_time_llh", "negative_binomial_charge_pdf"],
}

_ENTRY_KEYS = ("loss_module", "loss_module_weight", "config")


def _as_name_list(value: Any, key_path: str) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise LossConfigError(
            f"{key_path}: expected a term name or a non-empty list of them, got {value!r}; "
            f"valid names: {', '.join(sorted(TERMS))}"
        )
    for name in names:
        if not isinstance(name, str) or name not in TERMS:
            raise LossConfigError(
                f"{key_path}: unknown likelihood term {name!r}; valid names: "
                f"{', '.join(sorted(TERMS))}"
            )
    if len(set(names)) != len(names):
        raise LossConfigError(f"{key_path}: a term is named twice in {list(names)!r}")
    return list(names)


def resolve_loss_config(
    config: Mapping[str, Any] | None, key_path: str = "loss_module_settings[0].config"
) -> dict[str, Any]:
    """Defaults updated by ``config``, checked; errors name the key path and the valid values."""
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise LossConfigError(f"{key_path}: expected a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_LOSS_CONFIG))
    if unknown:
        raise LossConfigError(
            f"{key_path}: unknown key(s) {unknown}; valid keys: {sorted(DEFAULT_LOSS_CONFIG)}"
        )
    resolved = {**DEFAULT_LOSS_CONFIG, **config}
    if resolved["float_precision"] not in FLOAT_PRECISIONS:
        raise LossConfigError(
            f"{key_path}.float_precision: {resolved['float_precision']!r} is not one of "
            f"{sorted(FLOAT_PRECISIONS)}"
        )
    if not isinstance(resolved["add_normalization_term"], bool):
        raise LossConfigError(
            f"{key_path}.add_normalization_term: expected true/false, got "
            f"{resolved['add_normalization_term']!r}"
        )
    resolved["loss_function_name"] = _as_name_list(
        resolved["loss_function_name"], f"{key_path}.loss_function_name"
    )
    return resolved


@register("DefaultLossModule", kind="loss")
class LossModule:
    """The sum of the named likelihood terms of one ``loss_module_settings`` entry.

    Parameters
    ----------
    config : mapping, optional
        ``float_precision``, ``add_normalization_term``, ``loss_function_name`` (see module doc).
    key_path : str
        Where the config stands (for error messages).

    Calling ``module(batch, results)`` returns ``(totals [B], {name: [B]})`` (float64).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        key_path: str = "loss_module_settings[0].config",
    ):
        self.key_path = key_path
        self.config = resolve_loss_config(config, key_path)
        self.term_names: tuple[str, ...] = tuple(self.config["loss_function_name"])

    def term_values(
        self, batch: Mapping[str, tf.Tensor], results: Mapping[str, tf.Tensor]
    ) -> dict[str, tf.Tensor]:
        """Each term's per-event value [B] (float64)."""
        options = {
            "float_precision": self.config["float_precision"],
            "add_normalization_term": self.config["add_normalization_term"],
        }
        return {name: TERMS[name](batch, results, **options) for name in self.term_names}

    def __call__(
        self, batch: Mapping[str, tf.Tensor], results: Mapping[str, tf.Tensor]
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        terms = self.term_values(batch, results)
        return tf.add_n(list(terms.values())), terms

    def __repr__(self) -> str:
        return f"LossModule({list(self.term_names)}, {self.config['float_precision']})"


#: Accepted ``loss_module`` values -> class.
LOSS_MODULE_NAMES: dict[str, type[LossModule]] = {
    "DefaultLossModule": LossModule,
    "LossModule": LossModule,
}


def resolve_loss_module_class(name: Any, key_path: str) -> type[LossModule]:
    """The class a ``loss_module`` value names (short name, our dotted path or an old path)."""
    valid = sorted(LOSS_MODULE_NAMES) + sorted(OLD_LOSS_MODULE_PATHS)
    if isinstance(name, str):
        text = OLD_LOSS_MODULE_PATHS.get(name.strip(), name.strip())
        for prefix in ("icecube.egenerator.loss.module.", "egenerator.loss.module."):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        if text in LOSS_MODULE_NAMES:
            return LOSS_MODULE_NAMES[text]
    raise LossConfigError(
        f"{key_path}: unknown loss module {name!r}; valid names: {', '.join(valid)} "
        "(or egenerator.loss.module.<name>)"
    )


class MultiLossModule:
    """Weighted sum of loss modules.

    Parameters
    ----------
    modules : sequence of (LossModule, float)
        The modules and their weights.

    Calling returns ``(totals [B], terms)`` with ``totals = sum_i w_i module_i`` and the
    unweighted per-event value of every term; a term name used by several modules is suffixed
    with the module index, ``name[i]``.
    """

    def __init__(self, modules: Sequence[tuple[LossModule, float]]):
        if not modules:
            raise LossConfigError("loss_module_settings: at least one loss module is needed")
        self.modules = [(module, float(weight)) for module, weight in modules]
        counts: dict[str, int] = {}
        for module, _ in self.modules:
            for name in module.term_names:
                counts[name] = counts.get(name, 0) + 1
        self._keys = [
            {name: (name if counts[name] == 1 else f"{name}[{i}]") for name in module.term_names}
            for i, (module, _) in enumerate(self.modules)
        ]

    @classmethod
    def from_settings(
        cls,
        settings: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
        key_path: str = "loss_module_settings",
    ) -> MultiLossModule:
        """Build from a config's ``loss_module_settings`` (COMPAT.md section 2).

        Raises
        ------
        LossConfigError
            Unknown keys, module names, term names or bad values; the message names the key
            path (``loss_module_settings[i].config.loss_function_name`` ...), the value and the
            valid values.
        """
        if settings is None:
            settings = [{}]
        if isinstance(settings, Mapping):
            settings = [settings]
        if not isinstance(settings, list | tuple) or not settings:
            raise LossConfigError(
                f"{key_path}: expected a non-empty list of loss modules, got {settings!r}"
            )
        modules = []
        for i, entry in enumerate(settings):
            path = f"{key_path}[{i}]"
            if not isinstance(entry, Mapping):
                raise LossConfigError(f"{path}: expected a mapping, got {entry!r}")
            unknown = sorted(set(entry) - set(_ENTRY_KEYS))
            if unknown:
                raise LossConfigError(
                    f"{path}: unknown key(s) {unknown}; valid keys: {list(_ENTRY_KEYS)}"
                )
            module_class = resolve_loss_module_class(
                entry.get("loss_module", "DefaultLossModule"), f"{path}.loss_module"
            )
            weight = entry.get("loss_module_weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise LossConfigError(
                    f"{path}.loss_module_weight: expected a number, got {weight!r}"
                )
            if not weight >= 0.0 or weight == float("inf"):
                raise LossConfigError(
                    f"{path}.loss_module_weight: must be finite and >= 0, got {weight!r}"
                )
            modules.append((module_class(entry.get("config"), key_path=f"{path}.config"), weight))
        return cls(modules)

    @property
    def term_names(self) -> list[str]:
        """Keys of the term dictionary, in order."""
        return [key for keys in self._keys for key in keys.values()]

    def __call__(
        self, batch: Mapping[str, tf.Tensor], results: Mapping[str, tf.Tensor]
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        total = None
        terms: dict[str, tf.Tensor] = {}
        for (module, weight), keys in zip(self.modules, self._keys, strict=True):
            module_total, module_terms = module(batch, results)
            weighted = tf.constant(weight, tf.float64) * module_total
            total = weighted if total is None else total + weighted
            for name, value in module_terms.items():
                terms[keys[name]] = value
        return total, terms


def build_loss_module(
    settings: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    key_path: str = "loss_module_settings",
) -> MultiLossModule:
    """:meth:`MultiLossModule.from_settings` (the loss of a config)."""
    return MultiLossModule.from_settings(settings, key_path)
