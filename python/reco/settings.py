"""Reconstruction settings: the config's ``reconstruction_settings`` in typed form.

Interfaces (``reco_optimizer_interface``):

- ``"batched"`` (default; ``"tf"`` and the old ``"tfp"`` mean the same): a trust-region Newton
  method in one TensorFlow graph that fits all events x seeds together
  (:mod:`egenerator.reco.trust_region`);
- ``"scipy"``: ``scipy.optimize.minimize`` (``scipy_optimizer_settings.method``: L-BFGS-B, BFGS,
  ...) with TensorFlow gradients, per event (``scipy_mode: per_event``) or all events as one
  separable objective (``scipy_mode: joint``).

The options of the batched minimiser live in ``tf_optimizer_settings`` (keys of
:class:`TrustRegionSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

INTERFACE_ALIASES = {"batched": "batched", "tf": "batched", "tfp": "batched", "scipy": "scipy"}
SCIPY_MODES = ("per_event", "joint")


class RecoSettingsError(ValueError):
    """A reconstruction setting has a bad value; the message names the key."""


@dataclass(frozen=True)
class TrustRegionSettings:
    """Options of the batched trust-region Newton minimiser.

    Attributes
    ----------
    max_iterations : int
        Newton iterations per row at most.
    tolerance : float
        Converged when the Newton decrement ``g^T H^-1 g / 2`` (the predicted loss decrease of
        a full Newton step, NLL units) is below this and H is positive definite.
    loose_tolerance : float
        A row that stops otherwise (iteration limit, trust region collapsed) still counts as
        converged when its decrement is below this (float32 models are noisy at ~1e-4).
    initial_radius, max_radius, min_radius : float
        Trust-region radius in normalised units (one unit = the parameter's scale).
    accept_ratio : float
        A step is accepted when actual / predicted decrease exceeds this.
    max_rows_per_call, max_pulses_per_call, max_dom_rows_per_call : int
        Rows (events x seeds x finite-difference copies), pulses summed over them, and rows x
        DOMs evaluated per graph call at most (memory: the oracle on 5160 DOMs needed 8 GB
        with 4096 rows per call).
    hessian_step : float
        Step of the finite-difference Hessian (central differences of autodiff gradients) in
        normalised units (0.1 = 1 m, 10 mrad, 2 ns, 1 % in energy with the default scales).
        Large enough to average over cusps of the likelihood (the oracle's Cherenkov peak
        ``|cos psi - 1/n|^0.3`` has an infinite derivative on the cone; with 0.01 the
        finite-difference Hessian of the oracle is dominated by them), small enough for a
        truncation error of ~1 % where the resolution is about one scale unit.
    hessian_refresh : int
        An accepted step keeps the previous Hessian unless the model was poor, the step long,
        or the Hessian this many accepted steps old (1: a new Hessian after every step).
    stall_iterations, stall_tolerance : int, float
        A row whose loss decreased by less than ``stall_tolerance`` over the last
        ``stall_iterations`` iterations has converged (a minimum on a cusp, where the gradient
        does not vanish; or a float32 model's noise floor). 0.01 in the negative
        log-likelihood is a shift of at most 0.14 sigma of any parameter.
    """

    max_iterations: int = 60
    tolerance: float = 1e-5
    loose_tolerance: float = 1e-2
    initial_radius: float = 1.0
    max_radius: float = 1000.0
    min_radius: float = 1e-6
    accept_ratio: float = 1e-3
    max_rows_per_call: int = 4096
    max_pulses_per_call: int = 200_000
    max_dom_rows_per_call: int = 200_000
    hessian_step: float = 0.1
    hessian_refresh: int = 3
    stall_iterations: int = 4
    stall_tolerance: float = 1e-2

    def __post_init__(self) -> None:
        if int(self.max_iterations) < 1:
            raise RecoSettingsError(
                f"tf_optimizer_settings.max_iterations must be >= 1, got {self.max_iterations}"
            )
        for name in (
            "tolerance",
            "loose_tolerance",
            "initial_radius",
            "max_radius",
            "min_radius",
            "hessian_step",
            "stall_tolerance",
        ):
            if not float(getattr(self, name)) > 0:
                raise RecoSettingsError(
                    f"tf_optimizer_settings.{name} must be > 0, got {getattr(self, name)}"
                )
        if int(self.hessian_refresh) < 1:
            raise RecoSettingsError(
                f"tf_optimizer_settings.hessian_refresh must be >= 1, got {self.hessian_refresh}"
            )
        if int(self.stall_iterations) < 1:
            raise RecoSettingsError(
                f"tf_optimizer_settings.stall_iterations must be >= 1, got {self.stall_iterations}"
            )
        if int(self.max_rows_per_call) < 1:
            raise RecoSettingsError(
                "tf_optimizer_settings.max_rows_per_call must be >= 1, got "
                f"{self.max_rows_per_call}"
            )


@dataclass(frozen=True)
class RecoSettings:
    """Everything the :class:`~egenerator.reco.reconstructor.Reconstructor` needs to know.

    Attributes
    ----------
    interface : {"batched", "scipy"}
    scipy_method : str
        ``scipy.optimize.minimize`` method.
    scipy_options : dict
        Its ``options``.
    scipy_mode : {"per_event", "joint"}
    trust_region : TrustRegionSettings
    minimize_parameter_dict : dict name -> bool
        Which parameters are fitted (others: ``minimize_parameter_default_value``).
    minimize_parameter_default_value : bool
    parameter_boundaries : dict name -> (low, high)
        Physical bounds overriding the defaults.
    scales : dict name -> float
        Normalisation scales overriding the defaults.
    seed_missing_value : float or None
        Value of seed parameters that the seed table lacks (None: such a seed is an error).
    seed_missing_value_dict : dict name -> float
        Per-parameter values overriding ``seed_missing_value``.
    calculate_covariance_matrix, calculate_goodness_of_fit, estimate_angular_uncertainty : bool
    num_pseudo_events : int
        Pseudo-events per event for the goodness of fit.
    skip_graph_optimization : bool
        Call the traced graphs without TensorFlow's grappler optimiser (see
        :func:`egenerator.reco.objective.graph_optimizer_disabled`). Measured with the oracle
        on 420 DOMs: warm-up 33 s instead of 48 s, but each fit about 35 % slower; worth it for
        a handful of events (tests), not for production (default off).
    """

    interface: str = "batched"
    scipy_method: str = "L-BFGS-B"
    scipy_options: dict = field(default_factory=dict)
    scipy_mode: str = "per_event"
    trust_region: TrustRegionSettings = field(default_factory=TrustRegionSettings)
    minimize_parameter_dict: dict = field(default_factory=dict)
    minimize_parameter_default_value: bool = True
    parameter_boundaries: dict = field(default_factory=dict)
    scales: dict = field(default_factory=dict)
    seed_missing_value: float | None = 1.0
    seed_missing_value_dict: dict = field(default_factory=dict)
    calculate_covariance_matrix: bool = False
    calculate_goodness_of_fit: bool = False
    estimate_angular_uncertainty: bool = False
    num_pseudo_events: int = 20
    skip_graph_optimization: bool = False

    def __post_init__(self) -> None:
        if self.interface not in INTERFACE_ALIASES:
            raise RecoSettingsError(
                f"reco_optimizer_interface must be one of {sorted(INTERFACE_ALIASES)}, got "
                f"{self.interface!r}"
            )
        object.__setattr__(self, "interface", INTERFACE_ALIASES[self.interface])
        if self.scipy_mode not in SCIPY_MODES:
            raise RecoSettingsError(
                f"scipy_optimizer_settings.mode must be one of {SCIPY_MODES}, got "
                f"{self.scipy_mode!r}"
            )
        if int(self.num_pseudo_events) < 1:
            raise RecoSettingsError(f"num_pseudo_events must be >= 1, got {self.num_pseudo_events}")

    def with_changes(self, **changes) -> RecoSettings:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @classmethod
    def from_config(cls, reconstruction_settings: Mapping | None, **overrides) -> RecoSettings:
        """Read a config's ``reconstruction_settings`` (unknown keys are ignored).

        Parameters
        ----------
        reconstruction_settings : mapping or None
        **overrides
            Field values that win over the config (e.g. from the command line).
        """
        rs = dict(reconstruction_settings or {})
        kwargs: dict = {}
        if rs.get("reco_optimizer_interface") is not None:
            kwargs["interface"] = str(rs["reco_optimizer_interface"])
        scipy_settings = dict(rs.get("scipy_optimizer_settings") or {})
        if "method" in scipy_settings:
            kwargs["scipy_method"] = str(scipy_settings["method"])
        if "options" in scipy_settings:
            kwargs["scipy_options"] = dict(scipy_settings["options"] or {})
        if "mode" in scipy_settings:
            kwargs["scipy_mode"] = str(scipy_settings["mode"])
        tf_settings = dict(rs.get("tf_optimizer_settings") or {})
        known = {f.name for f in fields(TrustRegionSettings)}
        unknown = sorted(set(tf_settings) - known)
        if unknown:
            raise RecoSettingsError(
                f"reconstruction_settings.tf_optimizer_settings: unknown keys {unknown} "
                f"(known: {sorted(known)})"
            )
        kwargs["trust_region"] = TrustRegionSettings(**tf_settings)
        for key in (
            "minimize_parameter_dict",
            "parameter_boundaries",
            "seed_missing_value_dict",
        ):
            if rs.get(key) is not None:
                kwargs[key] = dict(rs[key])
        if "scales" in rs and rs["scales"] is not None:
            kwargs["scales"] = dict(rs["scales"])
        for key in (
            "minimize_parameter_default_value",
            "calculate_covariance_matrix",
            "calculate_goodness_of_fit",
            "estimate_angular_uncertainty",
            "skip_graph_optimization",
        ):
            if rs.get(key) is not None:
                kwargs[key] = bool(rs[key])
        if "seed_missing_value" in rs:
            value = rs["seed_missing_value"]
            kwargs["seed_missing_value"] = None if value is None else float(value)
        if rs.get("num_pseudo_events") is not None:
            kwargs["num_pseudo_events"] = int(rs["num_pseudo_events"])
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)
