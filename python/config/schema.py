"""The config schema: every key, its type, default and a one-line description.

The schema is data (nested :class:`Spec` objects) so that the same tree validates configs,
fills in defaults and documents the keys (:func:`describe_schema`). Validation never builds
anything; it returns a new, normalised dict (defaults filled, numbers converted, single strings
of list-valued keys wrapped in a list) and collects every problem with its key path.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()
"""Marker default: the key must be given."""

FILTER_OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
FLOAT_PRECISIONS = ("float32", "float64")


@dataclass(frozen=True)
class Spec:
    """One node of the schema.

    Attributes
    ----------
    kind : str
        'int', 'float', 'bool', 'str', 'path' (a str with ``{unique_name}`` expansion),
        'section' (fixed keys), 'mapping' (free keys; values checked by ``item`` if given),
        'list' (items checked by ``item``), 'tuple' (fixed positions ``items``),
        'union' (first of ``alternatives`` that accepts the value) or 'any'.
    doc : str
        One-line description (used for the documentation).
    default : Any
        Default when the key is absent (``REQUIRED``: the key must be given).
    nullable : bool
        Whether ``null`` (None) is accepted.
    keys : dict
        Children of a 'section'.
    item : Spec
        Item spec of a 'list' or value spec of a 'mapping'.
    items : tuple of Spec
        Position specs of a 'tuple'.
    alternatives : tuple of Spec
        Alternatives of a 'union'.
    choices : tuple
        Allowed values (after conversion).
    minimum : float
        Smallest allowed value of a number.
    wrap_single : bool
        A 'list' that also accepts one item, stored as a one-element list.
    """

    kind: str
    doc: str
    default: Any = REQUIRED
    nullable: bool = False
    keys: dict[str, Spec] = field(default_factory=dict)
    item: Spec | None = None
    items: tuple[Spec, ...] = ()
    alternatives: tuple[Spec, ...] = ()
    choices: tuple | None = None
    minimum: float | None = None
    wrap_single: bool = False

    def type_name(self) -> str:
        """Human-readable type of the node (for messages and docs)."""
        if self.kind == "list":
            name = f"list of {self.item.type_name()}" if self.item else "list"
        elif self.kind == "tuple":
            name = "[" + ", ".join(s.type_name() for s in self.items) + "]"
        elif self.kind == "union":
            name = " or ".join(s.type_name() for s in self.alternatives)
        elif self.kind == "section" or self.kind == "mapping":
            name = "mapping"
        elif self.kind == "path":
            name = "str"
        else:
            name = self.kind
        if self.choices is not None:
            name = f"one of {list(self.choices)}"
        return f"{name} or null" if self.nullable else name


# ---------------------------------------------------------------------- constructors
def _int(doc: str, default: Any = REQUIRED, minimum: float | None = None, nullable=False) -> Spec:
    return Spec("int", doc, default, nullable=nullable, minimum=minimum)


def _float(doc: str, default: Any = REQUIRED, minimum: float | None = None, nullable=False) -> Spec:
    return Spec("float", doc, default, nullable=nullable, minimum=minimum)


def _bool(doc: str, default: Any = REQUIRED) -> Spec:
    return Spec("bool", doc, default)


def _str(doc: str, default: Any = REQUIRED, nullable=False, choices=None) -> Spec:
    return Spec("str", doc, default, nullable=nullable, choices=choices)


def _path(doc: str, default: Any = REQUIRED, nullable=False) -> Spec:
    return Spec("path", doc, default, nullable=nullable)


def _section(doc: str, keys: dict[str, Spec], default: Any = None) -> Spec:
    # default None for a section means: absent -> validated as {} (all defaults filled).
    return Spec("section", doc, {} if default is None else default, keys=keys)


def _mapping(doc: str, default: Any = REQUIRED, item: Spec | None = None) -> Spec:
    return Spec("mapping", doc, default, item=item)


def _list(doc: str, item: Spec, default: Any = REQUIRED, wrap_single=False, nullable=False) -> Spec:
    return Spec("list", doc, default, item=item, wrap_single=wrap_single, nullable=nullable)


def _union(doc: str, alternatives: tuple[Spec, ...], default: Any = REQUIRED, nullable=False):
    return Spec("union", doc, default, alternatives=alternatives, nullable=nullable)


def _any(doc: str, default: Any = REQUIRED) -> Spec:
    return Spec("any", doc, default, nullable=True)


_NAME = Spec("str", "a name")
_NUMBER = Spec("float", "a number")


# ---------------------------------------------------------------------- the schema
def _iterator(name: str, sample_randomly: bool, forever: bool) -> Spec:
    return _section(
        f"the '{name}' data iterator",
        {
            "batch_size": _int("events per batch", 32, minimum=1),
            "input_data": _list(
                "glob patterns of the hdf5 input files ({unique_name} expanded)",
                Spec("path", "a glob pattern"),
                [],
                wrap_single=True,
            ),
            "num_jobs": _int("threads that read files in parallel", 1, minimum=1),
            "num_repetitions": _int(
                "how often the events of a loaded file are reused before it is dropped",
                1,
                minimum=1,
            ),
            "sample_randomly": _bool(
                "shuffle the file order and the events (through the event buffer)",
                sample_randomly,
            ),
            "pick_random_files_forever": _bool(
                "draw files at random with replacement, without end", forever
            ),
            "event_capacity": _int("shuffle buffer size [events]", 1000, minimum=0),
            "batch_capacity": _int("batches prepared ahead (prefetch)", 2, minimum=1),
            "dataset_capacity": _int("files read ahead beyond the ones being read", 1, minimum=0),
        },
    )


_LOSS_MODULE = _section(
    "one loss module",
    {
        "loss_module": _str(
            "dotted class path or registered name of the loss module",
            "egenerator.loss.default.DefaultLossModule",
        ),
        "loss_module_weight": _float("weight of this module in the total loss", 1.0),
        "config": _section(
            "settings of the loss module",
            {
                "float_precision": _str(
                    "precision of the likelihood sums", "float64", choices=FLOAT_PRECISIONS
                ),
                "add_normalization_term": _bool(
                    "add the constant normalisation terms of the likelihoods", True
                ),
                "loss_function_name": _list(
                    "likelihood term name(s), e.g. unbinned_pulse_time_llh",
                    _NAME,
                    ["unbinned_pulse_time_llh", "negative_binomial_charge_pdf"],
                    wrap_single=True,
                ),
            },
        ),
    },
)

_CONSTRAINT = Spec(
    "tuple",
    "[table, column, op, threshold]: keep events where `column op threshold`",
    items=(
        Spec("str", "table"),
        Spec("str", "column"),
        Spec("str", "operator", choices=FILTER_OPERATORS),
        Spec("float", "threshold"),
    ),
)

SCHEMA = _section(
    "an egenerator config",
    {
        "unique_name": _str("name of the model; replaces {unique_name} in path values"),
        "seed": _int("master seed of everything random (data order, initialisation)", 42),
        "detector_settings": _section(
            "the detector (DOM table) the data and models refer to",
            {
                "geometry": _path(
                    "'ic86_like' (the generated detector) or the path of a CSV DOM table",
                    "ic86_like",
                ),
                "layout_seed": _int(
                    "seed of the generated ic86-like layout (noise rates, dead DOMs)", 86
                ),
            },
        ),
        "training_settings": _section(
            "the trainer",
            {
                "optimizer_name": _str("tf.keras optimizer class name", "Adam"),
                "optimizer_settings": Spec(
                    "section",
                    "keyword arguments of the optimizer (learning_rate checked here)",
                    {},
                    keys={
                        "learning_rate": _union(
                            "a number or a learning-rate schedule mapping",
                            (_NUMBER, _mapping("schedule", {})),
                            0.001,
                        ),
                    },
                    item=_any("further optimizer keyword argument", None),
                ),
                "l1_regularization": _float("L1 weight penalty", 0.0, minimum=0.0),
                "l2_regularization": _float("L2 weight penalty", 0.0, minimum=0.0),
                "clip_gradients_value": _float(
                    "clip gradients to this global norm (null: no clipping)",
                    None,
                    minimum=0.0,
                    nullable=True,
                ),
                "remove_nan_gradients": _bool("replace NaN gradients by zero", False),
                "validation_frequency": _int("steps between validation losses", 100, 1),
                "evaluation_frequency": _int("steps between evaluation summaries", 100, 1),
                "save_frequency": _int("steps between checkpoints", 500, 1),
                "num_training_iterations": _int("total training steps", 1000000, 0),
                "additional_loss_module_kwargs": _mapping(
                    "extra keyword arguments of the loss modules", {}
                ),
                "max_consecutive_nan_steps": _int(
                    "stop when this many steps in a row give a non-finite loss", 10, 1
                ),
                "keep_checkpoints": _int("rolling checkpoints kept", 3, 1),
                "num_validation_batches": _int(
                    "batches of the fixed validation set (first of the seeded stream)", 4, 1
                ),
                "jit_compile": _bool("compile the training step with XLA", False),
                "deterministic": _bool("deterministic TF ops (reproducible, slower)", True),
            },
        ),
        "reconstruction_settings": _section(
            "reconstruction defaults",
            {
                "seed": _str("table / frame key of the seed", None, nullable=True),
                "seed_parameter_names": _list(
                    "seed fields in the order of the model parameters", _NAME, []
                ),
                "seed_missing_value": _float(
                    "value of seed parameters that are missing", 1.0, nullable=True
                ),
                "seed_missing_value_dict": _mapping(
                    "per-parameter values of missing seed parameters", {}, item=_NUMBER
                ),
                "seed_float_precision": _str(
                    "precision of the seed values", "float64", choices=FLOAT_PRECISIONS
                ),
                "reco_optimizer_interface": _str(
                    "minimiser: batched (TF trust region; alias tf, tfp) or scipy",
                    "batched",
                    choices=("batched", "tf", "tfp", "scipy"),
                ),
                "scipy_optimizer_settings": _mapping(
                    "scipy.optimize.minimize settings (method, options, mode)",
                    {"method": "L-BFGS-B", "options": {}},
                ),
                "tf_optimizer_settings": _mapping("settings of the batched TF minimiser", {}),
                "minimize_in_trafo_space": _bool("minimise in the normalised parameters", True),
                "minimize_parameter_default_value": _bool(
                    "whether parameters not in minimize_parameter_dict are fitted", True
                ),
                "minimize_parameter_dict": _mapping(
                    "per-parameter override of whether it is fitted",
                    {},
                    item=Spec("bool", "fit this parameter"),
                ),
                "parameter_boundaries": _mapping(
                    "per-parameter physical bounds [low, high] overriding the defaults",
                    {},
                    item=Spec("tuple", "[low, high]", items=(_NUMBER, _NUMBER)),
                ),
                "scales": _mapping(
                    "per-parameter normalisation scales overriding the defaults", {}, item=_NUMBER
                ),
                "num_pseudo_events": _int("pseudo-events per event for the goodness of fit", 20, 1),
                "calculate_covariance_matrix": _bool("compute the covariance matrix", False),
                "calculate_goodness_of_fit": _bool("compute the goodness of fit", False),
                "estimate_angular_uncertainty": _bool("estimate the angular uncertainty", False),
                "run_mcmc": _bool("sample the posterior with MCMC", False),
                "make_1d_llh_scans": _bool("make 1-d likelihood scans", False),
                "reco_output_file": _path("output file of the reconstruction", None, True),
            },
        ),
        "model_manager_settings": _section(
            "checkpoints and the model directory",
            {
                "restore_model": _bool("continue from the last checkpoint", False),
                "config": _section(
                    "model manager settings",
                    {
                        "manager_dir": _path(
                            "directory of the trained model", "models/{unique_name}"
                        ),
                        "I3ParticleMapping": _mapping(
                            "I3Particle field -> parameter name that fills it",
                            {},
                            item=Spec("str", "parameter name"),
                        ),
                    },
                ),
            },
        ),
        "data_iterator_settings": _section(
            "data iterators",
            {
                "training": _iterator("training", True, True),
                "trafo": _iterator("trafo", True, True),
                "validation": _iterator("validation", True, True),
                "test": _iterator("test", False, False),
            },
        ),
        "loss_module_settings": _list(
            "loss modules, summed with their weights",
            _LOSS_MODULE,
            [{}],
            wrap_single=True,
        ),
        "data_trafo_settings": _section(
            "the parameter transformation (trafo)",
            {
                "float_precision": _str(
                    "precision of the trafo statistics", "float64", choices=FLOAT_PRECISIONS
                ),
                "norm_constant": _float("constant added to every std", 1e-6, minimum=0.0),
                "num_batches": _int("batches of the trafo iterator used", 20, minimum=1),
                "model_dir": _path("directory the trafo is saved to", "trafo_models/{unique_name}"),
            },
        ),
        "data_handler_settings": _section(
            "how events are read from hdfwriter files",
            {
                "data_settings": _section(
                    "pulses, exclusions and time windows",
                    {
                        "pulse_key": _str("pulse table (I3RecoPulseSeriesMap)"),
                        "event_id_key": _str(
                            "table whose __I3Index__ gives the event list (null: pulse_key)",
                            None,
                            nullable=True,
                        ),
                        "dom_exclusions_key": _list(
                            "I3VectorOMKey tables of excluded DOMs",
                            _NAME,
                            [],
                            wrap_single=True,
                            nullable=True,
                        ),
                        "time_exclusions_key": _list(
                            "I3TimeWindowSeriesMap tables of excluded time windows",
                            _NAME,
                            [],
                            wrap_single=True,
                            nullable=True,
                        ),
                        "optional_keys": _list(
                            "exclusion / readout-window tables a file may lack (then skipped)",
                            _NAME,
                            [],
                            wrap_single=True,
                        ),
                        "readout_window_key": _str(
                            "table of the readout window (start, stop)",
                            "ReadoutWindow",
                            nullable=True,
                        ),
                        "time_window_buffer": _float(
                            "ns added around the pulses when there is no readout window",
                            100.0,
                            minimum=0.0,
                        ),
                        "add_charge_quantiles": _bool(
                            "accepted for compatibility; has no effect", False
                        ),
                        "discard_pulses_from_excluded_doms": _bool(
                            "drop the pulses of excluded DOMs from the batch", False
                        ),
                        "exclude_dead_doms": _bool(
                            "mark the detector table's dead DOMs as excluded", True
                        ),
                        "exclude_bright_doms": _bool(
                            "exclude DOMs with a large share of the event charge", False
                        ),
                        "bright_doms_threshold_fraction": _float(
                            "bright: DOM charge > this fraction of the event charge", 0.4, 0.0
                        ),
                        "bright_doms_threshold_charge": _float(
                            "bright: and DOM charge > this many PE", 100.0, 0.0
                        ),
                        "skip_incomplete_events": _bool(
                            "skip (and count) events missing from a required table", False
                        ),
                        "skip_invalid_events": _bool(
                            "skip (and count) events with NaN/inf/negative charge or bad time",
                            False,
                        ),
                        "float_precision": _str(
                            "accepted for compatibility; batches follow internals.md",
                            "float32",
                            choices=FLOAT_PRECISIONS,
                        ),
                    },
                    default=REQUIRED,
                ),
                "label_settings": _section(
                    "labels (training targets)",
                    {
                        "label_key": _str("table of the labels", "LabelsDeepLearning"),
                        "label_columns": _mapping(
                            "explicit parameter name -> label column",
                            {},
                            item=Spec("str", "column"),
                        ),
                        "trafo_log": _union(
                            "log-transform per parameter: bool, list of bools or mapping "
                            "(null: the energy parameters)",
                            (
                                Spec("bool", "all parameters"),
                                _list("per parameter", Spec("bool", "flag")),
                                _mapping("per name", {}, item=Spec("bool", "flag")),
                            ),
                            None,
                            nullable=True,
                        ),
                        "additional_labels": _list(
                            "further label columns loaded alongside", _NAME, []
                        ),
                        "event_weights": Spec(
                            "tuple",
                            "[table, column] of per-event weights (null: all 1)",
                            None,
                            nullable=True,
                            items=(Spec("str", "table"), Spec("str", "column")),
                        ),
                    },
                ),
                "filter_settings": _section(
                    "event selection",
                    {
                        "constraints": _list(
                            "all must hold for an event to be used", _CONSTRAINT, []
                        ),
                    },
                ),
            },
            default=REQUIRED,
        ),
        "model_settings": _mapping("the model tree (validated by the model builder)", {}),
    },
)


# ---------------------------------------------------------------------- validation
class _Problems(list):
    def add(self, path: str, message: str) -> None:
        self.append((path or "<root>", message))


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _check_number(spec: Spec, value: float, path: str, problems: _Problems) -> None:
    if spec.minimum is not None and value < spec.minimum:
        problems.add(path, f"must be >= {spec.minimum}, got {value!r}")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        # PyYAML reads 1e-6 (no dot) as a string; accept numeric strings.
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def validate(spec: Spec, value: Any, path: str, problems: _Problems) -> Any:
    """Validate ``value`` against ``spec``; return the normalised value (problems collected)."""
    if value is None:
        if spec.nullable or spec.kind == "any":
            return None
        problems.add(path, f"expected {spec.type_name()}, got null")
        return None
    kind = spec.kind
    if kind == "any":
        return copy.deepcopy(value)
    if kind == "bool":
        if not isinstance(value, bool):
            problems.add(path, f"expected bool, got {value!r}")
        return value
    if kind == "int":
        result = None
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        else:
            number = _as_float(value)
            if number is not None and math.isfinite(number) and number == int(number):
                result = int(number)
        if result is None:
            problems.add(path, f"expected int, got {value!r}")
            return value
        _check_number(spec, result, path, problems)
        return result
    if kind == "float":
        number = _as_float(value)
        if number is None or math.isnan(number):
            problems.add(path, f"expected float, got {value!r}")
            return value
        _check_number(spec, number, path, problems)
        return number
    if kind in ("str", "path"):
        if not isinstance(value, str):
            problems.add(path, f"expected str, got {value!r}")
            return value
        if spec.choices is not None and value not in spec.choices:
            problems.add(path, f"expected one of {list(spec.choices)}, got {value!r}")
        return value
    if kind == "list":
        if not isinstance(value, list | tuple):
            if spec.wrap_single:
                value = [value]
            else:
                problems.add(path, f"expected {spec.type_name()}, got {value!r}")
                return value
        return [validate(spec.item, v, _join(path, i), problems) for i, v in enumerate(value)]
    if kind == "tuple":
        if not isinstance(value, list | tuple) or len(value) != len(spec.items):
            problems.add(path, f"expected {spec.type_name()}, got {value!r}")
            return value
        return [
            validate(s, v, _join(path, i), problems)
            for i, (s, v) in enumerate(zip(spec.items, value, strict=True))
        ]
    if kind == "mapping":
        if not isinstance(value, dict):
            problems.add(path, f"expected mapping, got {value!r}")
            return value
        if spec.item is None:
            return copy.deepcopy(value)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.add(_join(path, key), f"keys must be strings, got {key!r}")
            out[key] = validate(spec.item, item, _join(path, key), problems)
        return out
    if kind == "section":
        if not isinstance(value, dict):
            problems.add(path, f"expected mapping, got {value!r}")
            return value
        out = {}
        for key, item in value.items():
            child = spec.keys.get(key)
            if child is None:
                if spec.item is not None:
                    out[key] = validate(spec.item, item, _join(path, key), problems)
                    continue
                known = ", ".join(sorted(spec.keys))
                problems.add(_join(path, key), f"unknown key (known keys: {known})")
                continue
            out[key] = validate(child, item, _join(path, key), problems)
        for key, child in spec.keys.items():
            if key in out or key in value:
                continue
            if child.default is REQUIRED:
                problems.add(_join(path, key), "missing")
            elif child.kind == "section" and isinstance(child.default, dict):
                out[key] = validate(child, copy.deepcopy(child.default), _join(path, key), problems)
            elif child.kind == "list" and child.item is not None and child.item.kind == "section":
                out[key] = validate(child, copy.deepcopy(child.default), _join(path, key), problems)
            else:
                out[key] = copy.deepcopy(child.default)
        # schema order first (readable saved configs), then free extra keys
        ordered = {key: out[key] for key in spec.keys if key in out}
        ordered.update({key: item for key, item in out.items() if key not in ordered})
        return ordered
    if kind == "union":
        for alternative in spec.alternatives:
            trial = _Problems()
            result = validate(alternative, value, path, trial)
            if not trial:
                return result
        problems.add(path, f"expected {spec.type_name()}, got {value!r}")
        return value
    raise AssertionError(f"unknown spec kind {kind!r}")


def expand_paths(spec: Spec, value: Any, unique_name: str) -> Any:
    """Replace ``{unique_name}`` in every 'path' value of a validated config."""
    if value is None:
        return None
    if spec.kind == "path" and isinstance(value, str):
        return value.replace("{unique_name}", unique_name)
    if spec.kind == "section" and isinstance(value, dict):
        return {
            k: expand_paths(spec.keys[k], v, unique_name) if k in spec.keys else v
            for k, v in value.items()
        }
    if spec.kind == "list" and isinstance(value, list) and spec.item is not None:
        return [expand_paths(spec.item, v, unique_name) for v in value]
    return value


def describe_schema(spec: Spec = SCHEMA, path: str = "") -> list[tuple[str, str, str, str]]:
    """Rows (key path, type, default, description) of every key, depth first (for docs)."""
    rows: list[tuple[str, str, str, str]] = []
    for key, child in spec.keys.items():
        child_path = _join(path, key)
        if child.default is REQUIRED:
            default = "required"
        elif child.kind == "section":
            default = ""
        else:
            default = repr(child.default)
        rows.append((child_path, child.type_name(), default, child.doc))
        if child.kind == "section":
            rows.extend(describe_schema(child, child_path))
        elif child.kind == "list" and child.item is not None and child.item.kind == "section":
            rows.extend(describe_schema(child.item, child_path + "[]"))
    return rows


def schema_markdown() -> str:
    """The key reference as a markdown table."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, type_name, default, doc in describe_schema():
        lines.append(f"| `{key}` | {type_name} | {default} | {doc} |")
    return "\n".join(lines) + "\n"
