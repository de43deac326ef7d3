"""Reconstruct hdfwriter files end to end: load, seed, fit, covariance, goodness of fit, write.

:func:`model_setup` / :func:`oracle_setup` gather what a run needs (source, loss, detector, data
settings, reconstruction defaults) from an exported model folder or for the oracle;
:func:`reconstruct_files` runs the chain over files in batches and writes one output file. The
``egenerator reco`` command, the demo and the benchmarks call these.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..data.event_matching import lookup
from ..data.loader import load_events
from ..detector import DetectorTable
from ..io.reader import HdfwriterFile
from .goodness_of_fit import goodness_of_fit
from .output import RecoOutputWriter
from .reconstructor import Reconstructor
from .seeds import FirstGuessSeeder, SeedCache, read_seed_table
from .settings import RecoSettings
from .status import FitStatus

#: Loss of the oracle: its exact likelihood (Poisson counts, no over-dispersion).
ORACLE_LOSS_SETTINGS = [
    {"config": {"loss_function_name": ["unbinned_pulse_time_llh", "poisson_charge_pdf"]}}
]
#: Data settings for files of the embedded simulator.
DEFAULT_DATA_SETTINGS = {
    "data_settings": {"pulse_key": "InIceDSTPulses", "dom_exclusions_key": ["BadDomsList"]},
    "label_settings": {"label_key": "LabelsDeepLearning"},
}
#: The data settings that select what the IceTray segment selects by default (bright DOMs
#: excluded): standalone fits with these equal the tray's on the same events.
TRAY_EQUIVALENT_DATA_SETTINGS = {
    "data_settings": {**DEFAULT_DATA_SETTINGS["data_settings"], "exclude_bright_doms": True},
    "label_settings": dict(DEFAULT_DATA_SETTINGS["label_settings"]),
}
DEFAULT_COPY_KEYS = ("MCCascade", "LabelsDeepLearning")
_ID_COLUMNS = ("Run", "Event", "SubEvent", "SubEventStream")


@dataclass
class RecoSetup:
    """Everything a reconstruction run needs besides the input files."""

    source: object
    loss_module: object
    detector: DetectorTable
    data_handler_settings: dict
    reconstruction_settings: dict = field(default_factory=dict)
    particle_mapping: dict = field(default_factory=dict)
    is_oracle: bool = False
    name: str = ""


def model_setup(model_dir: str | os.PathLike) -> RecoSetup:
    """Setup from an exported model folder (its config's data, loss and reco settings)."""
    from ..export.reader import load_exported
    from ..loss.module import MultiLossModule

    exported = load_exported(model_dir)
    config = exported.config or {}
    defaults = exported.reconstruction_defaults or {}
    data_settings = dict(config.get("data_handler_settings") or DEFAULT_DATA_SETTINGS)
    return RecoSetup(
        source=exported.source,
        loss_module=MultiLossModule.from_settings(config.get("loss_module_settings")),
        detector=exported.detector,
        data_handler_settings=data_settings,
        reconstruction_settings=dict(defaults.get("reconstruction_settings") or {}),
        particle_mapping=dict(defaults.get("I3ParticleMapping") or {}),
        is_oracle=False,
        name=str(model_dir),
    )


def oracle_setup(
    detector: DetectorTable | None = None,
    physics_config=None,
    data_handler_settings: Mapping | None = None,
) -> RecoSetup:
    """Setup of the oracle (exact physics of the embedded simulator)."""
    from ..detector import ic86_like
    from ..loss.module import MultiLossModule
    from ..model.source.oracle import build_oracle

    detector = detector if detector is not None else ic86_like()
    return RecoSetup(
        source=build_oracle(detector, physics_config),
        loss_module=MultiLossModule.from_settings(ORACLE_LOSS_SETTINGS),
        detector=detector,
        data_handler_settings=dict(data_handler_settings or DEFAULT_DATA_SETTINGS),
        is_oracle=True,
        name="oracle",
    )


def make_sampler(setup: RecoSetup, reconstructor: Reconstructor, physics_config=None):
    """The pseudo-event sampler of the goodness of fit: the simulator for the oracle, the
    source's own distributions otherwise."""
    from .sampling import SimulatorSampler, SourceSampler

    if setup.is_oracle:
        return SimulatorSampler(setup.detector, reconstructor.parameter_names, physics_config)
    return SourceSampler(setup.source, setup.detector.num_doms)


@dataclass
class RunSummary:
    """What a run did (counts and seconds)."""

    output: str
    num_events: int = 0
    status_counts: dict = field(default_factory=dict)
    runtimes_s: dict = field(default_factory=dict)
    warm_up_s: float = 0.0
    first_batch_s: float = 0.0
    total_s: float = 0.0

    @property
    def events_per_second(self) -> float:
        fit = self.runtimes_s.get("reco", 0.0) + self.runtimes_s.get("seed", 0.0)
        return self.num_events / fit if fit > 0 else float("nan")

    def text(self) -> str:
        codes = {int(c): FitStatus(int(c)).name for c in self.status_counts}
        status = ", ".join(f"{codes[c]}: {n}" for c, n in sorted(self.status_counts.items()))
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in self.runtimes_s.items())
        return (
            f"wrote {self.output}: {self.num_events} events ({status})\n"
            f"warm-up {self.warm_up_s:.2f} s; {steps}; total {self.total_s:.2f} s; "
            f"{self.events_per_second:.2f} events/s (seed + fit)"
        )


def _copy_tables(
    writer: RecoOutputWriter, path: str, keys: Sequence[str], event_ids: np.ndarray
) -> None:
    """Copy one-row-per-event tables (the truth) of these events into the output."""
    with HdfwriterFile(path) as hfile:
        for key in keys:
            if not hfile.has_table(key):
                continue
            index = hfile.event_index(key)
            if np.any((index["stop"] - index["start"]) > 1):
                continue  # not a one-row-per-event table
            table = hfile.read_table(key)
            ids = np.stack([index[c].astype(np.int64) for c in _ID_COLUMNS], axis=1)
            rows = lookup(ids, event_ids)
            present = rows >= 0
            present[present] &= (index["stop"] - index["start"])[rows[present]] > 0
            first = np.where(present, index["start"][np.maximum(rows, 0)], 0).astype(np.int64)
            columns = {
                name: np.where(present, table[name][first], 0).astype(table.dtype[name])
                for name in table.dtype.names
                if name not in _ID_COLUMNS + ("exists",)
            }
            exists = present & index["exists"][np.maximum(rows, 0)].astype(bool)
            writer.copy_table(key, event_ids, columns, exists=exists)


def reconstruct_files(
    setup: RecoSetup,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    settings: RecoSettings | None = None,
    output_key: str = "EventGenerator",
    seed_keys: Sequence[str] = (),
    num_first_guess: int | None = None,
    batch_size: int = 64,
    covariance: bool | None = None,
    num_pseudo_events: int = 0,
    copy_keys: Sequence[str] = DEFAULT_COPY_KEYS,
    random_seed: int = 1,
    reconstructor: Reconstructor | None = None,
    progress=None,
    seed_cache: SeedCache | None = None,
    max_events: int | None = None,
) -> RunSummary:
    """Reconstruct every event of ``inputs`` into ``output`` (see the module docstring).

    Parameters
    ----------
    setup : RecoSetup
    inputs : paths of hdfwriter files
    output : path of the output file (overwritten)
    settings : RecoSettings, optional
        Default: the setup's ``reconstruction_settings``.
    output_key : str
    seed_keys : tables to seed from (one seed each); events missing there get only the
        first-guess seeds.
    num_first_guess : int, optional
        First-guess seeds per event (default: 3 without seed keys, 0 with).
    batch_size : int
        Events fitted together.
    covariance : bool, optional
        Write the covariance table (default: the settings' ``calculate_covariance_matrix``).
    num_pseudo_events : int
        Goodness of fit with this many pseudo-events per event (0: off).
    copy_keys : tables copied from the inputs (the truth, for ``egenerator resolution``).
    random_seed : int
        Seed of the goodness-of-fit sampling.
    reconstructor : Reconstructor, optional
        Reuse an already warmed-up reconstructor.
    progress : callable, optional
        Called with the number of events done after every batch.
    seed_cache : SeedCache, optional
        First-guess seeds of events already in the cache are reused (not recomputed); new
        ones are added. Runs of two hypotheses then start from the same seeds.
    max_events : int, optional
        Reconstruct only the first this many events of each input file.
    """
    start_total = time.perf_counter()
    settings = settings or RecoSettings.from_config(setup.reconstruction_settings)
    covariance = settings.calculate_covariance_matrix if covariance is None else covariance
    warm = 0.0
    if reconstructor is None:
        reconstructor = Reconstructor(
            setup.source,
            setup.loss_module,
            settings=settings,
            num_doms=setup.detector.num_doms,
        )
        warm = reconstructor.warm_up()
    names = reconstructor.parameter_names
    if num_first_guess is None:
        num_first_guess = 0 if seed_keys else 3
    seeder = (
        FirstGuessSeeder(reconstructor, setup.detector, num_seeds=num_first_guess)
        if num_first_guess > 0
        else None
    )
    if seeder is not None and seed_cache is not None:
        seeder = seed_cache.wrap(seeder, names)
    sampler = make_sampler(setup, reconstructor) if num_pseudo_events > 0 else None
    summary = RunSummary(output=os.fspath(output), warm_up_s=warm)
    runtimes = {"seed": 0.0, "reco": 0.0}
    if covariance:
        runtimes["covariance"] = 0.0
    if sampler is not None:
        runtimes["gof"] = 0.0
    status_counts: dict[int, int] = {}
    first_batch = True
    with RecoOutputWriter(output, output_key, names, setup.particle_mapping) as writer:
        for path in inputs:
            path = os.fspath(path)
            loaded = load_events(
                path, setup.data_handler_settings, (), setup.detector, return_details=True
            )
            num_events = loaded.num_events
            if max_events is not None:
                num_events = min(num_events, int(max_events))
            for begin in range(0, num_events, batch_size):
                t_batch = time.perf_counter()
                events = np.arange(begin, min(begin + batch_size, num_events))
                batch = loaded.take(events)
                step = {}
                t0 = time.perf_counter()
                parts = []
                for key in seed_keys:
                    parts.append(
                        read_seed_table(
                            path,
                            key,
                            names,
                            batch.event_id,
                            missing_value=settings.seed_missing_value,
                            missing_value_dict=settings.seed_missing_value_dict,
                        )[:, None, :]
                    )
                if seeder is not None:
                    parts.append(seeder.seeds(batch))
                if not parts:
                    raise ValueError("no seeds: give seed keys or first-guess seeds")
                seeds = np.concatenate(parts, axis=1)
                step["seed"] = time.perf_counter() - t0
                fit = reconstructor.fit(batch, seeds)
                step["reco"] = fit.runtime_s
                cov = None
                if covariance:
                    cov = reconstructor.covariance(batch, fit)
                    step["covariance"] = cov.runtime_s
                pvalue = None
                if sampler is not None:
                    gof = goodness_of_fit(
                        reconstructor, batch, fit, sampler, num_pseudo_events, random_seed + begin
                    )
                    pvalue = gof.pvalue
                    step["gof"] = gof.runtime_s
                writer.append(batch.event_id, fit, step, cov, pvalue)
                if copy_keys:
                    _copy_tables(writer, path, copy_keys, batch.event_id)
                for key, value in step.items():
                    runtimes[key] = runtimes.get(key, 0.0) + value
                for code, count in zip(*np.unique(fit.fit_status, return_counts=True), strict=True):
                    status_counts[int(code)] = status_counts.get(int(code), 0) + int(count)
                summary.num_events += batch.num_events
                if first_batch:
                    summary.first_batch_s = time.perf_counter() - t_batch
                    first_batch = False
                if progress is not None:
                    progress(summary.num_events)
    summary.status_counts = status_counts
    summary.runtimes_s = runtimes
    summary.total_s = time.perf_counter() - start_total
    return summary
