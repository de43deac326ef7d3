"""The reconstruction engine of the IceTray module: model, loss, settings and warmed-up graphs.

:func:`load_engine` loads an exported model folder (or builds the oracle), resolves the
reconstruction settings (the model's exported defaults, then the module's overrides) and builds a
:class:`~egenerator.reco.reconstructor.Reconstructor` exactly as ``egenerator reco`` does, so the
tray and the standalone command fit with the same engine. Warming up traces every graph a run
will need (fit, covariance, first-guess seeds, goodness of fit) on a synthetic event, so no
frame ever waits for TensorFlow tracing.

Engines are shared within a process: a second module (or tray) asking for the same model with
the same settings gets the already warmed engine (``share=False`` builds a private one). This
module does not import IceTray.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .hdf5_compat import import_hdf5_modules

import_hdf5_modules()  # before TensorFlow: see hdf5_compat

from ..detector import DetectorTable  # noqa: E402
from ..reco.driver import RecoSetup, make_sampler, model_setup, oracle_setup  # noqa: E402
from ..reco.output import PARTICLE_KINDS  # noqa: E402
from ..reco.reconstructor import Reconstructor, synthetic_batch  # noqa: E402
from ..reco.seeds import FirstGuessSeeder  # noqa: E402
from ..reco.settings import RecoSettings  # noqa: E402
from ..sim.physics import PhysicsConfig  # noqa: E402

ORACLE = "oracle"


class EngineConfigError(ValueError):
    """The module's model or reconstruction settings are unusable (the message names them)."""


def resolve_model(model_names: str | Sequence[str] | None, model_base_dir: str | None) -> str:
    """The model folder (or ``"oracle"``) of the module parameters ``model_names`` /
    ``model_base_dir``.

    ``model_names`` is one name or a list of exactly one name; a relative name is taken inside
    ``model_base_dir`` when that is given.
    """
    if model_names is None:
        raise EngineConfigError(
            "model_names is not set: give an exported model folder (or its name inside "
            "model_base_dir), or 'oracle'"
        )
    names = [model_names] if isinstance(model_names, str | os.PathLike) else list(model_names)
    if len(names) != 1:
        raise EngineConfigError(
            f"model_names: exactly one model is supported, got {len(names)} ({names}); run the "
            "segment once per model with different output_key values"
        )
    name = os.fspath(names[0])
    if name == ORACLE:
        return ORACLE
    path = Path(name)
    if model_base_dir is not None and not path.is_absolute():
        path = Path(model_base_dir) / path
    if not path.is_dir():
        raise EngineConfigError(f"model_names: model folder '{path}' does not exist")
    return str(path.resolve())


def as_detector(value) -> DetectorTable | None:
    """A DetectorTable of this package copy from a table (of either copy: ``egenerator`` or
    ``icecube.egenerator``), a CSV path, or None."""
    if value is None or isinstance(value, DetectorTable):
        return value
    if isinstance(value, str | os.PathLike):
        return DetectorTable.from_csv(value)
    if type(value).__name__ == "DetectorTable":
        names = ("string", "om", "x", "y", "z", "efficiency", "noise_rate_hz", "dead", "source")
        return DetectorTable(**{n: getattr(value, n) for n in names if hasattr(value, n)})
    raise EngineConfigError(
        f"detector must be a DetectorTable or a CSV path, got {type(value).__name__}"
    )


def as_physics_config(value) -> PhysicsConfig | None:
    """A PhysicsConfig of this package copy (or None)."""
    if value is None or isinstance(value, PhysicsConfig):
        return value
    if type(value).__name__ == "PhysicsConfig":
        import dataclasses

        return PhysicsConfig(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise EngineConfigError(f"physics_config must be a PhysicsConfig, got {type(value).__name__}")


def detector_digest(detector: DetectorTable) -> str:
    """A content hash of a detector table (identifies the oracle's detector)."""
    digest = hashlib.sha256()
    for name in ("string", "om", "x", "y", "z", "efficiency", "noise_rate_hz", "dead"):
        digest.update(np.ascontiguousarray(getattr(detector, name)).tobytes())
    return digest.hexdigest()


def resolve_settings(
    reconstruction_settings: Mapping | None, overrides: Mapping | None = None
) -> RecoSettings:
    """RecoSettings from a model's ``reconstruction_settings`` and config-style overrides.

    The optimizer interface is ``"batched"`` unless the overrides name one (as in
    ``egenerator reco``, the model's ``reco_optimizer_interface`` is not used).
    """
    config = dict(reconstruction_settings or {})
    config["reco_optimizer_interface"] = "batched"
    for key, value in (overrides or {}).items():
        if value is not None:
            config[key] = value
    try:
        return RecoSettings.from_config(config)
    except (TypeError, ValueError) as error:
        raise EngineConfigError(f"reconstruction settings: {error}") from None


@dataclass
class ReconstructionEngine:
    """A loaded model with its reconstructor (see the module docstring).

    Attributes
    ----------
    setup : RecoSetup
        Source, loss, detector, exported defaults (as ``egenerator reco`` uses them).
    reconstructor : Reconstructor
    settings : RecoSettings
    physics_config : PhysicsConfig or None
        The oracle's physics (None: default physics, or an exported model).
    warm_up_s : float
        Seconds spent tracing so far.
    """

    setup: RecoSetup
    reconstructor: Reconstructor
    settings: RecoSettings
    physics_config: PhysicsConfig | None = None
    warm_up_s: float = 0.0
    _warm: set = field(default_factory=set)
    _seeders: dict = field(default_factory=dict)
    _sampler: object = None

    @property
    def detector(self) -> DetectorTable:
        return self.setup.detector

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.reconstructor.parameter_names

    def first_guess_seeder(self, num_seeds: int) -> FirstGuessSeeder:
        """The (shared) first-guess seeder keeping ``num_seeds`` directions."""
        seeder = self._seeders.get(num_seeds)
        if seeder is None:
            seeder = FirstGuessSeeder(self.reconstructor, self.detector, num_seeds=num_seeds)
            self._seeders[num_seeds] = seeder
        return seeder

    def sampler(self):
        """Pseudo-event sampler of the goodness of fit (as ``egenerator reco`` builds it)."""
        if self._sampler is None:
            self._sampler = make_sampler(self.setup, self.reconstructor, self.physics_config)
        return self._sampler

    def _synthetic(self) -> tuple:
        reco = self.reconstructor
        batch = synthetic_batch(self.detector.num_doms, reco.num_parameters)
        seeds = np.ones((1, 1, reco.num_parameters))
        seeds[0, 0, reco.space.time_mask] = 1000.0
        seeds[0, 0, reco.space.log_mask] = 1000.0
        return batch, seeds

    def warm_up(
        self, covariance: bool = False, num_first_guess: int = 0, goodness_of_fit: bool = False
    ) -> float:
        """Trace what a run needs and has not been traced yet; returns the seconds spent."""
        from ..reco.goodness_of_fit import goodness_of_fit as run_gof

        start = time.perf_counter()
        reco = self.reconstructor
        if "fit" not in self._warm:
            reco.warm_up()
            self._warm.add("fit")
        batch, seeds = self._synthetic()
        if covariance and "covariance" not in self._warm:
            reco.covariance(batch, seeds[:, 0], reuse=False)
            self._warm.add("covariance")
        if num_first_guess > 0 and f"first_guess_{num_first_guess}" not in self._warm:
            self.first_guess_seeder(num_first_guess).seeds(batch)
            self._warm.add(f"first_guess_{num_first_guess}")
        if goodness_of_fit and "gof" not in self._warm:
            fit = reco.fit(batch, seeds)
            if np.all(np.isfinite(fit.parameters)):
                run_gof(reco, batch, fit, self.sampler(), 1, 0)
            self._warm.add("gof")
        spent = time.perf_counter() - start
        self.warm_up_s += spent
        return spent


_ENGINES: dict[tuple, ReconstructionEngine] = {}


def load_engine(
    model: str,
    *,
    detector: DetectorTable | None = None,
    physics_config: PhysicsConfig | None = None,
    settings_overrides: Mapping | None = None,
    share: bool = True,
) -> ReconstructionEngine:
    """Load (or reuse) the engine of ``model`` (a folder from :func:`resolve_model` or
    ``"oracle"``).

    Parameters
    ----------
    model : str
    detector : DetectorTable, optional
        The oracle's detector (default: the generated ic86-like detector). An exported model
        brings its own; giving one that differs is an error.
    physics_config : PhysicsConfig, optional
        The oracle's physics (default physics when None).
    settings_overrides : mapping, optional
        ``reconstruction_settings`` keys overriding the model's exported defaults.
    share : bool
        Reuse an engine of this process built for the same model and settings.
    """
    detector = as_detector(detector)
    physics_config = as_physics_config(physics_config)
    if model == ORACLE:
        if detector is None:
            from ..detector import ic86_like

            detector = ic86_like()
        setup = None
        model_key: tuple = (ORACLE, detector_digest(detector), repr(physics_config))
        defaults: Mapping = {}
    else:
        setup = model_setup(model)
        if detector is not None and detector_digest(detector) != detector_digest(setup.detector):
            raise EngineConfigError(
                f"detector: the given table differs from the one exported with '{model}'; "
                "exported models use their own detector table"
            )
        manifest = Path(model) / "export.yaml"
        model_key = (model, manifest.stat().st_mtime_ns if manifest.exists() else 0)
        defaults = setup.reconstruction_settings
    settings = resolve_settings(defaults, settings_overrides)
    key = (model_key, repr(settings))
    if share and key in _ENGINES:
        return _ENGINES[key]
    if setup is None:
        setup = oracle_setup(detector, physics_config)
    unknown = sorted(set(setup.particle_mapping) - set(PARTICLE_KINDS))
    if unknown:
        raise EngineConfigError(f"{model}: I3ParticleMapping has unknown fields {unknown}")
    reconstructor = Reconstructor(
        setup.source,
        setup.loss_module,
        settings=settings,
        num_doms=setup.detector.num_doms,
    )
    engine = ReconstructionEngine(
        setup=setup,
        reconstructor=reconstructor,
        settings=settings,
        physics_config=physics_config,
    )
    if share:
        _ENGINES[key] = engine
    return engine


def clear_engines() -> None:
    """Forget the shared engines of this process."""
    _ENGINES.clear()
