# ruff: noqa: E402  (imports follow import_hdf5_modules(), see hdf5_compat)
"""I3Module ``EventGeneratorReconstruction``: maximum-likelihood fits of physics frames.

Per physics frame the pulses (``pulse_key``) are converted to arrays on the model's detector
table with DOM and time-window exclusions (:class:`~egenerator.icetray.FrameConverter`), the
seeds are read (``seed_keys``: I3Particle or I3MapStringDouble; optional first-guess seeds) and
the frame waits in a buffer. When ``batch_size`` physics frames are buffered (and in
``Finish``) they are fitted together by the reconstruction engine of ``egenerator reco``
(:mod:`egenerator.icetray.reco_engine`), the results are written into the frames
(:mod:`egenerator.icetray.frame_outputs`) and ALL buffered frames are pushed in their original
order. Frames that arrive while no physics frame waits pass straight through.

Failures stay per frame: a frame without the pulse key, without a usable seed, with no pulse
on a valid DOM or with unreadable pulses gets its outputs with a failure ``fit_status`` and the
tray goes on. Configuration errors (no model, a geometry that does not match the model's
detector table) stop the tray with a message that names the problem.

The model is loaded and every graph traced in ``Configure`` (``warm_up_s`` is logged), so the
first frame is as fast as the others. The G frame's ``I3Geometry`` is checked against the
model's detector table (:func:`~egenerator.icetray.detector_from_geometry`).

With ``If`` or ``IcePickServiceKey`` set, IceTray passes the frames the condition rejects
around the module; to keep the frame order the module then fits every frame at once
(``batch_size`` 1).

This module imports IceTray at import time (it defines an I3Module); ``egenerator.icetray``
imports it only when ``EventGeneratorReconstruction`` is accessed.
"""

from __future__ import annotations

import dataclasses as _dc
import time
from collections.abc import Mapping, Sequence

import numpy as np

from .hdf5_compat import import_hdf5_modules

import_hdf5_modules()  # before TensorFlow: see hdf5_compat

try:
    from icecube import dataclasses, icetray
    from icecube.icetray import logging as i3logging
except ImportError as error:  # pragma: no cover - exercised only without IceTray
    raise ImportError(
        "egenerator.icetray.reconstruction_module needs IceTray (icecube.icetray, "
        "icecube.dataclasses); run inside an IceTray environment (env-shell.sh)"
    ) from error

from ..data.batch import EventBatch
from ..reco.goodness_of_fit import goodness_of_fit
from ..reco.output import PARTICLE_KINDS
from ..reco.status import FitStatus
from .exclusions import EventArrays, ExclusionSettings, FrameConversionError
from .frame_conversion import DEFAULT_PULSE_KEY, FrameConverter, event_id_of
from .frame_outputs import INVALID_INPUT, result_objects, write_results
from .frame_seeds import FrameSeedError, FrameSeedReader
from .geometry import GeometryMismatchError, detector_from_geometry
from .reco_engine import EngineConfigError, load_engine, resolve_model

LOG_UNIT = "EventGeneratorReconstruction"
MAX_FRAME_WARNINGS = 20

#: (name, description, default) of every module parameter (icetray-inspect shows them).
PARAMETERS: tuple[tuple[str, str, object], ...] = (
    # model
    (
        "model_names",
        "Exported model folder (or a list holding exactly one); relative names are taken "
        "inside model_base_dir. 'oracle': the exact physics of the embedded simulator on "
        "`detector`.",
        None,
    ),
    ("model_base_dir", "Folder holding the model folders of model_names (optional).", None),
    (
        "detector",
        "Oracle only: DetectorTable or CSV path of the detector (default: the generated "
        "ic86-like detector). Exported models bring their own table.",
        None,
    ),
    ("physics_config", "Oracle only: PhysicsConfig of the simulator (default physics).", None),
    # inputs
    ("seed_keys", "Frame keys of the seeds: I3Particle or I3MapStringDouble, one seed each.", []),
    (
        "num_first_guess",
        "First-guess seeds per event from the pulses (direction scan). Default: 0 with "
        "seed_keys, 3 without.",
        None,
    ),
    (
        "seed_parameter_names",
        "Seed column per model parameter (in parameter order), overriding the name matching.",
        None,
    ),
    (
        "missing_seed_value",
        "Value of parameters a seed object lacks (default: the model's seed_missing_value; "
        "NaN makes such a seed unusable).",
        None,
    ),
    (
        "missing_seed_value_dict",
        "Per-parameter values of parameters a seed lacks ({name: value}).",
        None,
    ),
    ("pulse_key", "I3RecoPulseSeriesMap (or mask/union) of the pulses.", DEFAULT_PULSE_KEY),
    (
        "exclusion_keys",
        "Frame keys of exclusions: I3VectorOMKey (whole DOMs) or I3TimeWindowSeriesMap "
        "(time windows); keys missing from a frame are skipped.",
        None,
    ),
    (
        "dom_exclusions_key",
        "More exclusion keys (str or list; same rules as exclusion_keys).",
        None,
    ),
    (
        "time_exclusions_key",
        "More exclusion keys (str or list; same rules as exclusion_keys).",
        None,
    ),
    (
        "partial_exclusion",
        "True: remove only the pulses inside time windows and pass the windows to the "
        "likelihood; False: exclude every DOM with a time window.",
        True,
    ),
    (
        "exclude_bright_doms",
        "Exclude DOMs with charge > fraction x event charge AND > the charge threshold.",
        False,
    ),
    ("bright_doms_threshold_fraction", "Bright DOMs: fraction of the event charge.", 0.4),
    ("bright_doms_threshold_charge", "Bright DOMs: charge threshold [PE].", 100.0),
    (
        "merge_pulses_time_threshold",
        "Merge consecutive pulses of a DOM closer than this [ns] (None: no merging).",
        None,
    ),
    ("exclude_dead_doms", "Exclude the DOMs the model's detector table marks dead.", True),
    (
        "time_window_key",
        "I3TimeWindow giving the readout window (widened to hold every pulse); None or "
        "absent from the frame: first pulse - buffer to last pulse + buffer.",
        None,
    ),
    ("time_window_buffer", "Margin around the pulses when there is no readout window [ns].", 100.0),
    (
        "use_cpp_converter",
        "Frame conversion in C++ (icecube._egenerator): True, False (numpy), None (when built).",
        None,
    ),
    # outputs
    ("output_key", "Base name of the output frame objects.", "EventGenerator"),
    ("add_covariances", "Write <output_key>_cov_matrix_cov (covariance upper triangle).", False),
    (
        "add_circular_err",
        "Write circular_unc / circular_unc_det [rad] into <output_key> (from the covariance).",
        False,
    ),
    ("add_goodness_of_fit", "Write gof_pvalue into <output_key> (pseudo-experiments).", False),
    ("num_pseudo_events", "Pseudo-events per event of the goodness of fit (default 20).", None),
    ("random_seed", "Seed of the goodness-of-fit sampling.", 1),
    (
        "particle_mapping",
        "I3ParticleMapping {I3Particle field: parameter} (default: the model's, else the "
        "first parameter of each kind).",
        None,
    ),
    (
        "exclusions_output_key",
        "When set, also write <key>_Pulses (the pulses the likelihood sees), "
        "<key>_ExcludedDOMs, <key>_BrightDOMs and <key>_TimeWindows per physics frame.",
        None,
    ),
    # minimisation
    ("minimize_parameter_dict", "{parameter: bool}: which parameters are fitted.", None),
    ("parameter_boundaries", "{parameter: [low, high]}: physical bounds.", None),
    (
        "reco_optimizer_interface",
        "'batched' (trust-region Newton, all events together; default) or 'scipy'.",
        None,
    ),
    ("scipy_optimizer_settings", "{method, options, mode} of the scipy interface.", None),
    ("tf_optimizer_settings", "Options of the batched trust-region minimiser.", None),
    (
        "reconstruction_settings",
        "Further reconstruction_settings keys overriding the model's exported defaults.",
        None,
    ),
    # running
    (
        "batch_size",
        "Physics frames fitted together (frames are held until then; order is kept).",
        16,
    ),
    ("num_threads", "TensorFlow intra/inter-op threads (0: TensorFlow's default).", 0),
    (
        "share_engine",
        "Reuse a warmed-up engine of this process built for the same model and settings.",
        True,
    ),
    ("geometry_tolerance", "Largest accepted DOM displacement of the I3Geometry [m].", 0.5),
)


class ReconstructionModuleError(ValueError):
    """A parameter of EventGeneratorReconstruction is unusable (the message names it)."""


def _key_list(value, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        keys = [str(v) for v in value]
    except TypeError:
        raise ReconstructionModuleError(
            f"{name} must be a key or a list of keys, got {value!r}"
        ) from None
    return keys


def _optional_dict(value, name: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ReconstructionModuleError(f"{name} must be a dict, got {type(value).__name__}")
    return dict(value)


@_dc.dataclass
class _PendingEvent:
    """A physics frame converted and waiting for its batch."""

    batch: EventBatch
    seeds: np.ndarray  # [K, P]
    status: int | None  # frame-level failure code, None when the frame is fittable
    conversion_s: float
    seed_s: float


class EventGeneratorReconstruction(icetray.I3ConditionalModule):
    """Reconstruct physics frames with an egenerator model (see the module docstring)."""

    def __init__(self, context):
        super().__init__(context)
        for name, description, default in PARAMETERS:
            self.AddParameter(name, description, default)
        self.AddOutBox("OutBox")

    # ------------------------------------------------------------------ configuration
    def Configure(self):
        p = {name: self.GetParameter(name) for name, _, _ in PARAMETERS}
        self.output_key = str(p["output_key"])
        self.pulse_key = str(p["pulse_key"])
        self.batch_size = int(p["batch_size"])
        if self.batch_size < 1:
            raise ReconstructionModuleError(f"batch_size must be >= 1, got {p['batch_size']}")
        if self.batch_size > 1 and (
            self.GetParameter("If") is not None or self.GetParameter("IcePickServiceKey")
        ):
            i3logging.log_warn(
                "If/IcePickServiceKey is set: frames the condition skips bypass the module, "
                "so batch_size is set to 1 to keep the frame order",
                unit=LOG_UNIT,
            )
            self.batch_size = 1
        self._set_threads(int(p["num_threads"]))

        self.seed_keys = _key_list(p["seed_keys"], "seed_keys")
        num_first_guess = p["num_first_guess"]
        self.num_first_guess = (
            (0 if self.seed_keys else 3) if num_first_guess is None else int(num_first_guess)
        )
        if self.num_first_guess < 0:
            raise ReconstructionModuleError(f"num_first_guess must be >= 0, got {num_first_guess}")
        if not self.seed_keys and self.num_first_guess == 0:
            raise ReconstructionModuleError("no seeds: give seed_keys or num_first_guess > 0")

        self.add_covariances = bool(p["add_covariances"])
        self.add_circular_err = bool(p["add_circular_err"])
        self.add_goodness_of_fit = bool(p["add_goodness_of_fit"])
        self.random_seed = int(p["random_seed"])

        overrides = {
            "reco_optimizer_interface": p["reco_optimizer_interface"],
            "scipy_optimizer_settings": _optional_dict(
                p["scipy_optimizer_settings"], "scipy_optimizer_settings"
            ),
            "tf_optimizer_settings": _optional_dict(
                p["tf_optimizer_settings"], "tf_optimizer_settings"
            ),
            "minimize_parameter_dict": _optional_dict(
                p["minimize_parameter_dict"], "minimize_parameter_dict"
            ),
            "parameter_boundaries": _optional_dict(
                p["parameter_boundaries"], "parameter_boundaries"
            ),
            "seed_missing_value": p["missing_seed_value"],
            "seed_missing_value_dict": _optional_dict(
                p["missing_seed_value_dict"], "missing_seed_value_dict"
            ),
            "num_pseudo_events": p["num_pseudo_events"],
        }
        extra = _optional_dict(p["reconstruction_settings"], "reconstruction_settings") or {}
        overrides = {**extra, **{k: v for k, v in overrides.items() if v is not None}}
        try:
            self.model = resolve_model(p["model_names"], p["model_base_dir"])
            self.engine = load_engine(
                self.model,
                detector=p["detector"],
                physics_config=p["physics_config"],
                settings_overrides=overrides,
                share=bool(p["share_engine"]),
            )
        except EngineConfigError as error:
            raise ReconstructionModuleError(f"{LOG_UNIT}: {error}") from None
        settings = self.engine.settings
        self.reconstructor = self.engine.reconstructor
        self.detector = self.engine.detector
        self.parameter_names = self.engine.parameter_names
        self.num_pseudo_events = int(settings.num_pseudo_events)

        mapping = _optional_dict(p["particle_mapping"], "particle_mapping")
        self.particle_mapping = mapping or dict(self.engine.setup.particle_mapping) or None
        for field, parameter in (self.particle_mapping or {}).items():
            if field not in PARTICLE_KINDS or parameter not in self.parameter_names:
                raise ReconstructionModuleError(
                    f"particle_mapping: '{field}' -> '{parameter}' needs an I3Particle field of "
                    f"{list(PARTICLE_KINDS)} and a model parameter of {list(self.parameter_names)}"
                )

        exclusion_keys: list[str] = []
        for name in ("exclusion_keys", "dom_exclusions_key", "time_exclusions_key"):
            for key in _key_list(p[name], name):
                if key not in exclusion_keys:
                    exclusion_keys.append(key)
        self.exclusion_keys = tuple(exclusion_keys)
        merge = p["merge_pulses_time_threshold"]
        try:
            exclusion_settings = ExclusionSettings(
                partial_exclusion=bool(p["partial_exclusion"]),
                exclude_bright_doms=bool(p["exclude_bright_doms"]),
                bright_doms_threshold_fraction=float(p["bright_doms_threshold_fraction"]),
                bright_doms_threshold_charge_pe=float(p["bright_doms_threshold_charge"]),
                merge_pulses_time_threshold_ns=None if merge is None else float(merge),
            )
            self.converter = FrameConverter(
                self.detector,
                self.pulse_key,
                self.exclusion_keys,
                exclusion_settings,
                use_cpp=p["use_cpp_converter"],
            )
            self.seed_reader = FrameSeedReader(
                self.seed_keys,
                self.parameter_names,
                p["seed_parameter_names"],
                settings.seed_missing_value,
                settings.seed_missing_value_dict,
            )
        except (FrameConversionError, FrameSeedError) as error:
            raise ReconstructionModuleError(f"{LOG_UNIT}: {error}") from None
        self.dead = (
            np.asarray(self.detector.dead, dtype=bool)
            if bool(p["exclude_dead_doms"])
            else np.zeros(self.detector.num_doms, dtype=bool)
        )
        self.time_window_key = p["time_window_key"]
        self.time_window_buffer_ns = float(p["time_window_buffer"])
        self.exclusions_output_key = p["exclusions_output_key"]
        self.geometry_tolerance_m = float(p["geometry_tolerance"])

        covariance = self.add_covariances or self.add_circular_err
        warm_s = self.engine.warm_up(
            covariance=covariance,
            num_first_guess=self.num_first_guess,
            goodness_of_fit=self.add_goodness_of_fit,
        )
        i3logging.log_info(
            f"model {self.model} ({len(self.parameter_names)} parameters, "
            f"{self.detector.num_doms} DOMs, {settings.interface} minimiser): warm-up "
            f"{warm_s:.1f} s (engine total {self.engine.warm_up_s:.1f} s)",
            unit=LOG_UNIT,
        )

        self._buffer: list[tuple[object, _PendingEvent | None]] = []
        self._num_pending = 0
        self._num_physics = 0
        self._geometry_seen = False
        self._warnings = 0
        self.status_counts: dict[int, int] = {}
        self.runtimes_s: dict[str, float] = {}

    def _set_threads(self, num_threads: int) -> None:
        if num_threads < 0:
            raise ReconstructionModuleError(f"num_threads must be >= 0, got {num_threads}")
        if num_threads == 0:
            return
        import tensorflow as tf

        threading = tf.config.threading
        try:
            threading.set_intra_op_parallelism_threads(num_threads)
            threading.set_inter_op_parallelism_threads(num_threads)
        except RuntimeError:
            if threading.get_intra_op_parallelism_threads() != num_threads:
                i3logging.log_warn(
                    f"num_threads={num_threads} not applied: TensorFlow was initialised "
                    "before this module (set it before anything runs TensorFlow)",
                    unit=LOG_UNIT,
                )

    # ------------------------------------------------------------------ frames
    def Process(self):
        frame = self.PopFrame()
        if frame is None:
            return
        if frame.Stop == icetray.I3Frame.Geometry:
            self._check_geometry(frame)
        if frame.Stop == icetray.I3Frame.Physics:
            self._buffer.append((frame, self._prepare(frame)))
            self._num_pending += 1
            if self._num_pending >= self.batch_size:
                self._flush()
        elif self._num_pending:
            self._buffer.append((frame, None))
        else:
            self.PushFrame(frame)

    def Finish(self):
        self._flush()
        counts = ", ".join(
            f"{self._status_name(code)}: {n}" for code, n in sorted(self.status_counts.items())
        )
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in self.runtimes_s.items())
        i3logging.log_info(
            f"{self._num_physics} physics frames ({counts or 'none'}); {steps}", unit=LOG_UNIT
        )

    @staticmethod
    def _status_name(code: int) -> str:
        if code == INVALID_INPUT:
            return "INVALID_INPUT"
        try:
            return FitStatus(code).name
        except ValueError:
            return str(code)

    def _warn(self, frame, message: str) -> None:
        self._warnings += 1
        if self._warnings <= MAX_FRAME_WARNINGS:
            run, event, sub_event, _ = event_id_of(frame).tolist()
            suffix = (
                " (further frame warnings are not shown)"
                if (self._warnings == MAX_FRAME_WARNINGS)
                else ""
            )
            i3logging.log_warn(
                f"frame run {run} event {event} sub-event {sub_event}: {message}{suffix}",
                unit=LOG_UNIT,
            )

    def _check_geometry(self, frame) -> None:
        if "I3Geometry" not in frame:
            return
        try:
            detector_from_geometry(
                frame["I3Geometry"], reference=self.detector, tolerance_m=self.geometry_tolerance_m
            )
        except GeometryMismatchError as error:
            raise GeometryMismatchError(f"{LOG_UNIT} (model {self.model}): {error}") from None
        self._geometry_seen = True

    # ------------------------------------------------------------------ conversion
    def _empty_batch(self, frame) -> EventBatch:
        d = self.detector.num_doms
        return EventBatch(
            parameters=np.zeros((1, len(self.parameter_names))),
            pulse_charge_pe=np.zeros(0),
            pulse_time_ns=np.zeros(0),
            pulse_event=np.zeros(0, dtype=np.int64),
            pulse_dom=np.zeros(0, dtype=np.int64),
            dom_charge=np.zeros((1, d)),
            dom_valid=~self.dead.reshape(1, d),
            time_window_ns=np.array([[-self.time_window_buffer_ns, self.time_window_buffer_ns]]),
            window_exclusions_ns=np.zeros((0, 2)),
            window_event=np.zeros(0, dtype=np.int64),
            window_dom=np.zeros(0, dtype=np.int64),
            event_id=event_id_of(frame).reshape(1, 4),
            weights=np.ones(1),
        )

    def _without_dead(self, arrays: EventArrays) -> EventArrays:
        if not self.dead.any():
            return arrays
        valid = arrays.dom_valid & ~self.dead
        keep = valid[arrays.pulse_dom]
        keep_window = valid[arrays.window_dom]
        return _dc.replace(
            arrays,
            pulse_time_ns=arrays.pulse_time_ns[keep],
            pulse_charge_pe=arrays.pulse_charge_pe[keep],
            pulse_dom=arrays.pulse_dom[keep],
            dom_charge_pe=np.where(valid, arrays.dom_charge_pe, 0.0),
            dom_valid=valid,
            window_start_ns=arrays.window_start_ns[keep_window],
            window_stop_ns=arrays.window_stop_ns[keep_window],
            window_dom=arrays.window_dom[keep_window],
        )

    def _readout_window(self, frame, arrays: EventArrays) -> np.ndarray:
        key = self.time_window_key
        if key is not None and key in frame:
            value = frame[key]
            if not isinstance(value, dataclasses.I3TimeWindow):
                raise FrameConversionError(
                    f"time_window_key '{key}' holds a {type(value).__name__}, expected I3TimeWindow"
                )
            window = np.array([value.start, value.stop], dtype=np.float64)
            if not (np.all(np.isfinite(window)) and window[1] > window[0]):
                raise FrameConversionError(
                    f"time_window_key '{key}' is {window.tolist()}, expected finite start < stop"
                )
        elif arrays.num_pulses:
            window = arrays.readout_window_ns(self.time_window_buffer_ns)
        else:
            return np.array([-self.time_window_buffer_ns, self.time_window_buffer_ns])
        if arrays.num_pulses:
            window[0] = min(window[0], arrays.pulse_time_ns.min())
            window[1] = max(window[1], arrays.pulse_time_ns.max())
        return window

    def _prepare(self, frame) -> _PendingEvent:
        self._num_physics += 1
        start = time.perf_counter()
        status = None
        batch = None
        if self.pulse_key not in frame:
            status = int(FitStatus.NO_PULSES)
            self._warn(frame, f"no pulse key '{self.pulse_key}'")
        else:
            try:
                arrays = self._without_dead(self.converter.convert(frame))
                window = self._readout_window(frame, arrays)
                batch = arrays.to_event_batch(
                    np.zeros(len(self.parameter_names)), window, event_id_of(frame)
                )
                if self.exclusions_output_key:
                    self._write_exclusions(frame, arrays)
            except (FrameConversionError, RuntimeError) as error:
                # RuntimeError: IceTray could not resolve the pulses (e.g. a stale mask)
                status = INVALID_INPUT
                self._warn(frame, f"pulses not usable: {error}")
        if batch is None:
            batch = self._empty_batch(frame)
        converted = time.perf_counter()
        seeds, problems = self.seed_reader.read(frame)
        if problems and status is None:
            usable = np.all(np.isfinite(seeds), axis=1).any() or self.num_first_guess > 0
            if not usable:
                self._warn(frame, "no usable seed: " + "; ".join(problems))
        return _PendingEvent(
            batch=batch,
            seeds=seeds,
            status=status,
            conversion_s=converted - start,
            seed_s=time.perf_counter() - converted,
        )

    def _write_exclusions(self, frame, arrays: EventArrays) -> None:
        from .simulation_module import pulse_map_from_arrays

        detector = self.detector
        prefix = str(self.exclusions_output_key)
        frame[prefix + "_Pulses"] = pulse_map_from_arrays(
            detector.string[arrays.pulse_dom],
            detector.om[arrays.pulse_dom],
            arrays.pulse_time_ns,
            arrays.pulse_charge_pe,
        )
        for suffix, doms in (
            ("_ExcludedDOMs", np.flatnonzero(~arrays.dom_valid)),
            ("_BrightDOMs", arrays.bright_doms),
        ):
            keys = dataclasses.I3VectorOMKey()
            for d in doms:
                keys.append(icetray.OMKey(int(detector.string[d]), int(detector.om[d])))
            frame[prefix + suffix] = keys
        windows = dataclasses.I3TimeWindowSeriesMap()
        for d in np.unique(arrays.window_dom):
            series = dataclasses.I3TimeWindowSeries()
            sel = arrays.window_dom == d
            for a, b in zip(arrays.window_start_ns[sel], arrays.window_stop_ns[sel], strict=True):
                series.append(dataclasses.I3TimeWindow(float(a), float(b)))
            windows[icetray.OMKey(int(detector.string[d]), int(detector.om[d]))] = series
        frame[prefix + "_TimeWindows"] = windows

    # ------------------------------------------------------------------ fitting
    def _flush(self) -> None:
        pending = [(frame, event) for frame, event in self._buffer if event is not None]
        if pending:
            frames = [frame for frame, _ in pending]
            self._reconstruct(frames, [event for _, event in pending])
        for frame, _ in self._buffer:
            self.PushFrame(frame)
        self._buffer = []
        self._num_pending = 0

    def _reconstruct(self, frames: Sequence, events: Sequence[_PendingEvent]) -> None:
        reco = self.reconstructor
        first_event = self._num_physics - self._num_pending
        batch = EventBatch.concatenate([e.batch for e in events])
        step = {
            "conversion": float(sum(e.conversion_s for e in events)),
            "seed": float(sum(e.seed_s for e in events)),
        }
        start = time.perf_counter()
        parts = []
        if self.seed_keys:
            parts.append(np.stack([e.seeds for e in events]))
        if self.num_first_guess > 0:
            parts.append(self.engine.first_guess_seeder(self.num_first_guess).seeds(batch))
        seeds = np.concatenate(parts, axis=1)
        step["seed"] += time.perf_counter() - start
        fit = reco.fit(batch, seeds)
        step["reco"] = fit.runtime_s
        for i, event in enumerate(events):
            if event.status is not None:
                fit.fit_status[i] = event.status
        covariance = None
        if self.add_covariances or self.add_circular_err:
            covariance = reco.covariance(batch, fit)
            step["covariance"] = covariance.runtime_s
        pvalue = None
        if self.add_goodness_of_fit:
            gof = goodness_of_fit(
                reco,
                batch,
                fit,
                self.engine.sampler(),
                self.num_pseudo_events,
                self.random_seed + first_event,
            )
            pvalue = gof.pvalue
            step["gof"] = gof.runtime_s
        objects = result_objects(
            fit,
            self.parameter_names,
            step,
            covariance,
            pvalue,
            self.particle_mapping,
            write_covariance=self.add_covariances,
        )
        write_results(frames, self.output_key, objects)
        for code, count in zip(*np.unique(fit.fit_status, return_counts=True), strict=True):
            self.status_counts[int(code)] = self.status_counts.get(int(code), 0) + int(count)
        for key, seconds in step.items():
            self.runtimes_s[key] = self.runtimes_s.get(key, 0.0) + seconds
