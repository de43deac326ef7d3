"""Random events of the embedded simulator (PHYSICS.md): parameters -> photoelectrons -> pulses.

Every event draws from its own random stream, ``SeedSequence(seed, spawn_key=(event,))``, in a
fixed order (parameters, cascade photoelectron counts, noise counts, delays, jitter, noise times,
charges), so the output does not depend on the chunk size: the same seed gives the same arrays
byte for byte. Photoelectron times are kept as integers in units of ``2^-16`` ns (15 fs) relative
to the window start; this makes every sort and merge decision exact integer arithmetic and is far
below any physical time scale (the jitter is 2 ns).

Pulses are formed per DOM from the time-ordered photoelectrons: a photoelectron joins the current
pulse if it arrives at most ``merge_ns`` after the pulse's first photoelectron; the pulse has the
time of its first photoelectron and the summed charge. Because the single-photoelectron charges
are i.i.d., they are drawn in time order after sorting (no permutation of charges is needed); the
noise-free MC pulses re-use the charges of the cascade photoelectrons.

Vectorisation: per event a handful of numpy calls (no loop over DOMs or photoelectrons); the
greedy merge runs on batches of consecutive events (~500k photoelectrons): runs separated by more
than ``merge_ns`` are split directly and only runs longer than ``merge_ns`` are walked, one pulse
per step for all of them at once (``searchsorted``), so the number of Python steps is the largest
number of pulses of one such run in the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from .. import CASCADE_PARAMETER_NAMES
from ..detector import DetectorTable
from .events import SimulatedEvents
from .light import ENERGY, TIME, dom_geometry, photoelectrons_at
from .physics import DEFAULT_PHYSICS, PhysicsConfig

TIME_QUANTUM_BITS = 16
"""Photoelectron times are integers in units of 2^-16 ns."""
DEFAULT_CHUNK_SIZE = 32
MERGE_BATCH_PHOTOELECTRONS = 1 << 19
"""Photoelectrons merged into pulses at once (bounds the size of temporary arrays)."""


class SamplerError(ValueError):
    """Invalid arguments to the simulator."""


# ----------------------------------------------------------------------------- streams
def event_generator(seed: int, event: int) -> np.random.Generator:
    """The random stream of one event: ``PCG64(SeedSequence(seed, spawn_key=(event,)))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(event,))))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SamplerError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_fixed(fixed: Mapping[str, float] | None) -> dict[int, float]:
    if not fixed:
        return {}
    columns = {}
    for name, value in fixed.items():
        if name not in CASCADE_PARAMETER_NAMES:
            raise SamplerError(
                f"fixed: unknown parameter {name!r}; known: {', '.join(CASCADE_PARAMETER_NAMES)}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SamplerError(f"fixed: value of {name!r} is {value!r}, not a number") from None
        if not np.isfinite(number):
            raise SamplerError(f"fixed: value of {name!r} is {value!r}, not finite")
        if name == "energy" and number <= 0:
            raise SamplerError(f"fixed: energy must be > 0 GeV, got {value!r}")
        columns[CASCADE_PARAMETER_NAMES.index(name)] = number
    return columns


def _energy_range(config: PhysicsConfig, energy_range_gev) -> tuple[float, float]:
    low, high = config.energy_range_gev if energy_range_gev is None else energy_range_gev
    low, high = float(low), float(high)
    if not (0 < low <= high < np.inf):
        raise SamplerError(
            f"energy_range_gev must satisfy 0 < low <= high < inf, got {energy_range_gev!r}"
        )
    return low, high


def _parameters_from_uniforms(
    uniforms: np.ndarray, config: PhysicsConfig, energy_range: tuple[float, float]
) -> np.ndarray:
    """[N, 7] uniforms -> parameters: vertex in the cylinder, isotropic direction,
    log-uniform energy, uniform t0."""
    u = uniforms
    p = np.empty_like(u)
    radius = config.vertex_radius_m * np.sqrt(u[:, 0])
    phi = 2.0 * np.pi * u[:, 1]
    p[:, 0] = radius * np.cos(phi)
    p[:, 1] = radius * np.sin(phi)
    p[:, 2] = config.vertex_height_m * (u[:, 2] - 0.5)
    p[:, 3] = np.arccos(np.clip(2.0 * u[:, 3] - 1.0, -1.0, 1.0))
    p[:, 4] = 2.0 * np.pi * u[:, 4]
    low, high = energy_range
    p[:, 5] = np.exp(np.log(low) + u[:, 5] * (np.log(high) - np.log(low)))
    t_low, t_high = config.t0_range_ns
    p[:, 6] = t_low + u[:, 6] * (t_high - t_low)
    return p


def _draw_parameters(
    generators: list[np.random.Generator],
    config: PhysicsConfig,
    energy_range: tuple[float, float],
    fixed: dict[int, float],
) -> np.ndarray:
    uniforms = np.stack([g.random(7) for g in generators]) if generators else np.zeros((0, 7))
    p = _parameters_from_uniforms(uniforms, config, energy_range)
    for column, value in fixed.items():
        p[:, column] = value
    return p


def sample_parameters(
    num_events: int,
    seed: int,
    config: PhysicsConfig = DEFAULT_PHYSICS,
    energy_range_gev: tuple[float, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    first_event: int = 0,
) -> np.ndarray:
    """The true parameters [N, 7] that :func:`simulate_events` uses for the same arguments.

    Vertex uniform in the cylinder (radius ``vertex_radius_m``, height ``vertex_height_m``,
    centred at the origin), direction isotropic, energy log-uniform in ``energy_range_gev``
    (default ``config.energy_range_gev``), time uniform in ``config.t0_range_ns``. ``fixed``
    overrides columns by name (``x, y, z, zenith, azimuth, energy, time``); the random streams
    are unchanged by fixing, so the other columns keep their values.
    """
    seed = _check_seed(seed)
    columns = _check_fixed(fixed)
    energy_range = _energy_range(config, energy_range_gev)
    generators = [event_generator(seed, i) for i in range(first_event, first_event + num_events)]
    return _draw_parameters(generators, config, energy_range, columns)


# ----------------------------------------------------------------------------- pulses
def spe_charges(generator: np.random.Generator, size: int, config: PhysicsConfig) -> np.ndarray:
    """Single-photoelectron charges: Normal(mean, sigma) truncated below ``spe_charge_min``
    by resampling the values below it."""
    mean, sigma, low = config.spe_charge_mean, config.spe_charge_sigma, config.spe_charge_min
    charges = mean + sigma * generator.standard_normal(size)
    redo = np.flatnonzero(charges < low)
    while redo.size:
        charges[redo] = mean + sigma * generator.standard_normal(redo.size)
        redo = redo[charges[redo] < low]
    return charges


def greedy_pulse_starts(keys: np.ndarray, merge_quanta: int) -> np.ndarray:
    """Boolean mask of the photoelectrons that start a pulse.

    Parameters
    ----------
    keys : [N] int64, sorted
        ``(segment << bits) | time``: photoelectrons of one segment (event, DOM) are contiguous
        and time-ordered; segments differ by far more than ``merge_quanta``.
    merge_quanta : int
        A photoelectron joins the current pulse if ``key - key_first <= merge_quanta``.
    """
    n = keys.size
    starts = np.zeros(n, dtype=bool)
    if n == 0:
        return starts
    starts[0] = True
    np.greater(np.diff(keys), merge_quanta, out=starts[1:])
    run_start = np.flatnonzero(starts)
    run_end = np.empty_like(run_start)
    run_end[:-1] = run_start[1:]
    run_end[-1] = n
    long_run = keys[run_end - 1] - keys[run_start] > merge_quanta
    position = run_start[long_run]
    end = run_end[long_run]
    while position.size:
        position = np.searchsorted(keys, keys[position] + merge_quanta, side="right")
        inside = position < end
        position = position[inside]
        end = end[inside]
        starts[position] = True
    return starts


def _pulses(keys: np.ndarray, charges: np.ndarray, merge_quanta: int):
    starts = greedy_pulse_starts(keys, merge_quanta)
    index = np.flatnonzero(starts)
    charge = np.add.reduceat(charges, index) if index.size else np.zeros(0)
    return keys[index], charge


def _decode(
    keys: np.ndarray, bits: int, num_doms: int, window: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    segment = keys >> bits
    event = segment // num_doms
    dom = segment - event * num_doms
    quanta = keys & ((1 << bits) - 1)
    time = window[event, 0] + quanta.astype(np.float64) * 2.0**-TIME_QUANTUM_BITS
    return event.astype(np.int64), dom.astype(np.int64), time


class _MergeBatch:
    """Collects the photoelectrons of consecutive events and merges them into pulses in batches
    of about ``MERGE_BATCH_PHOTOELECTRONS``: the greedy walk is shared by many small events, and
    arrays stay small enough to be recycled by the allocator (fresh large allocations are slow
    to fault in)."""

    def __init__(self, merge_quanta: int, bits: int, num_doms: int, window: np.ndarray):
        self.merge_quanta = merge_quanta
        self.bits = bits
        self.num_doms = num_doms
        self.window = window
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_size = 0
        self.out: dict[bool, list[tuple[np.ndarray, ...]]] = {False: [], True: []}

    def add(self, keys: np.ndarray, is_noise: np.ndarray, charges: np.ndarray) -> None:
        self.pending.append((keys, is_noise, charges))
        self.pending_size += keys.size
        if self.pending_size >= MERGE_BATCH_PHOTOELECTRONS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        keys = np.concatenate([p[0] for p in self.pending])
        is_noise = np.concatenate([p[1] for p in self.pending])
        charges = np.concatenate([p[2] for p in self.pending])
        self.pending, self.pending_size = [], 0
        for mc, (k, c) in (
            (False, (keys, charges)),
            (True, (keys[~is_noise], charges[~is_noise])),
        ):
            pulse_keys, pulse_charge = _pulses(k, c, self.merge_quanta)
            decoded = _decode(pulse_keys, self.bits, self.num_doms, self.window)
            self.out[mc].append((*decoded, pulse_charge))

    def result(self, mc: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        parts = self.out[mc]
        if not parts:
            empty_int = np.zeros(0, dtype=np.int64)
            return empty_int, empty_int.copy(), np.zeros(0), np.zeros(0)
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(4))


# ----------------------------------------------------------------------------- events
def _time_bits(config: PhysicsConfig) -> int:
    quanta = config.window_length_ns * 2.0**TIME_QUANTUM_BITS
    return max(1, int(np.ceil(np.log2(quanta + 2.0))))


def _simulate_chunk(
    seed: int,
    first_event: int,
    num_events: int,
    detector: DetectorTable,
    config: PhysicsConfig,
    energy_range: tuple[float, float],
    fixed: dict[int, float],
    run_id: int,
) -> SimulatedEvents:
    generators = [event_generator(seed, first_event + i) for i in range(num_events)]
    parameters = _draw_parameters(generators, config, energy_range, fixed)
    num_doms = detector.num_doms
    bits = _time_bits(config)
    if (num_events * num_doms) >= 2 ** (62 - bits):
        raise SamplerError(
            f"chunk of {num_events} events x {num_doms} DOMs is too large for 64-bit pulse keys"
        )
    window_start, window_stop = config.readout_window_ns
    window_length = window_stop - window_start
    window = np.tile(np.asarray([window_start, window_stop], dtype=np.float64), (num_events, 1))

    distance, cos_psi, incidence = dom_geometry(parameters, detector.positions, config)
    mu = photoelectrons_at(
        parameters[:, ENERGY, None], distance, cos_psi, incidence, detector.efficiency, config
    )
    alive = ~detector.dead
    mu *= alive
    shape = np.maximum(distance / config.pandel_lambda_m, 0.0)
    offset_ns = parameters[:, TIME, None] + distance / config.c_ice_m_per_ns - window_start
    noise_mean = detector.noise_rate_hz * 1e-9 * window_length * alive
    rate = config.pandel_rate_per_ns
    quantum = 2.0**TIME_QUANTUM_BITS
    limit_quanta = int(np.floor(window_length * quantum))
    dom_shift = np.arange(num_doms, dtype=np.int64) << bits

    merge_quanta = int(np.floor(config.merge_ns * quantum))
    batch = _MergeBatch(merge_quanta, bits, num_doms, window)
    for i, generator in enumerate(generators):
        counts = generator.poisson(mu[i])
        noise_counts = generator.poisson(noise_mean)
        hit = np.flatnonzero(counts)
        per_dom = counts[hit]
        quanta = generator.standard_gamma(np.repeat(shape[i, hit], per_dom))
        quanta *= 1.0 / rate
        quanta += config.jitter_ns * generator.standard_normal(quanta.size)
        quanta += np.repeat(offset_ns[i, hit], per_dom)
        quanta *= quantum
        np.floor(quanta, out=quanta)
        keep = (quanta >= 0) & (quanta < limit_quanta)
        cascade = quanta.astype(np.int64)
        cascade += np.repeat(dom_shift[hit], per_dom)
        cascade = np.sort(cascade[keep])

        noisy = np.flatnonzero(noise_counts)
        noise_per_dom = noise_counts[noisy]
        noise_quanta = np.floor(generator.random(noise_per_dom.sum()) * window_length * quantum)
        noise = np.minimum(noise_quanta.astype(np.int64), limit_quanta - 1)
        noise += np.repeat(dom_shift[noisy], noise_per_dom)
        noise.sort()

        where = np.searchsorted(cascade, noise, side="right")
        keys = np.insert(cascade, where, noise)
        is_noise = np.zeros(keys.size, dtype=bool)
        is_noise[where + np.arange(noise.size)] = True
        keys += np.int64(i * num_doms) << bits
        batch.add(keys, is_noise, spe_charges(generator, keys.size, config))
    batch.flush()
    pulse_event, pulse_dom, pulse_time, pulse_charge = batch.result(mc=False)
    mc_event, mc_dom, mc_time, mc_charge = batch.result(mc=True)
    return SimulatedEvents(
        parameters=parameters,
        pulse_event=pulse_event,
        pulse_dom=pulse_dom,
        pulse_time_ns=pulse_time,
        pulse_charge_pe=pulse_charge,
        mc_pulse_event=mc_event,
        mc_pulse_dom=mc_dom,
        mc_pulse_time_ns=mc_time,
        mc_pulse_charge_pe=mc_charge,
        readout_window_ns=window,
        bad_doms=np.flatnonzero(detector.dead).astype(np.int64),
        run_id=run_id,
        event_number=np.arange(first_event, first_event + num_events, dtype=np.int64),
    )


def simulate_events(
    num_events: int,
    seed: int,
    detector: DetectorTable,
    config: PhysicsConfig = DEFAULT_PHYSICS,
    energy_range_gev: tuple[float, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    run_id: int | None = None,
) -> Iterator[SimulatedEvents]:
    """Simulate cascade events, yielding :class:`SimulatedEvents` chunks of ``chunk_size``.

    Parameters
    ----------
    num_events : int
        Number of events.
    seed : int
        Random seed (>= 0). The same seed gives identical arrays for any chunk size.
    detector : DetectorTable
        The detector; its dead DOMs record nothing and are listed in ``bad_doms``.
    config : PhysicsConfig
        Physics constants.
    energy_range_gev : (low, high), optional
        Log-uniform energy range (default ``config.energy_range_gev``).
    fixed : dict, optional
        Parameter values to fix by name (``x, y, z, zenith, azimuth, energy, time``).
    chunk_size : int
        Events per yielded chunk (peak memory ~50 bytes per photoelectron of a chunk:
        ~250 MB for 32 events at 1 PeV).
    run_id : int, optional
        Run number of the events (default ``seed % 2**31``).

    Yields
    ------
    SimulatedEvents
        Chunks with chunk-local ``pulse_event`` indices; ``event_number`` counts from 0 over
        the whole run.
    """
    seed = _check_seed(seed)
    if isinstance(num_events, bool) or not isinstance(num_events, (int, np.integer)):
        raise SamplerError(f"num_events must be an integer, got {num_events!r}")
    if num_events < 0:
        raise SamplerError(f"num_events must be >= 0, got {num_events}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise SamplerError(f"chunk_size must be an integer, got {chunk_size!r}")
    if chunk_size < 1:
        raise SamplerError(f"chunk_size must be >= 1, got {chunk_size}")
    if not isinstance(detector, DetectorTable):
        raise SamplerError(f"detector must be a DetectorTable, got {type(detector).__name__}")
    columns = _check_fixed(fixed)
    energy_range = _energy_range(config, energy_range_gev)
    run = seed % 2**31 if run_id is None else int(run_id)
    return _chunks(
        int(num_events), seed, detector, config, energy_range, columns, int(chunk_size), run
    )


def _chunks(
    num_events: int,
    seed: int,
    detector: DetectorTable,
    config: PhysicsConfig,
    energy_range: tuple[float, float],
    fixed: dict[int, float],
    chunk_size: int,
    run_id: int,
) -> Iterator[SimulatedEvents]:
    for first in range(0, num_events, chunk_size):
        count = min(chunk_size, num_events - first)
        yield _simulate_chunk(seed, first, count, detector, config, energy_range, fixed, run_id)


def concatenate_chunks(chunks: list[SimulatedEvents]) -> SimulatedEvents:
    """Join chunks into one :class:`SimulatedEvents` (event indices renumbered)."""
    if not chunks:
        raise SamplerError("concatenate_chunks: no chunks")
    offsets = np.cumsum([0] + [c.num_events for c in chunks[:-1]])
    return SimulatedEvents(
        parameters=np.concatenate([c.parameters for c in chunks]),
        pulse_event=np.concatenate(
            [c.pulse_event + o for c, o in zip(chunks, offsets, strict=True)]
        ),
        pulse_dom=np.concatenate([c.pulse_dom for c in chunks]),
        pulse_time_ns=np.concatenate([c.pulse_time_ns for c in chunks]),
        pulse_charge_pe=np.concatenate([c.pulse_charge_pe for c in chunks]),
        mc_pulse_event=np.concatenate(
            [c.mc_pulse_event + o for c, o in zip(chunks, offsets, strict=True)]
        ),
        mc_pulse_dom=np.concatenate([c.mc_pulse_dom for c in chunks]),
        mc_pulse_time_ns=np.concatenate([c.mc_pulse_time_ns for c in chunks]),
        mc_pulse_charge_pe=np.concatenate([c.mc_pulse_charge_pe for c in chunks]),
        readout_window_ns=np.concatenate([c.readout_window_ns for c in chunks]),
        bad_doms=chunks[0].bad_doms,
        run_id=chunks[0].run_id,
        event_number=np.concatenate([c.event_number for c in chunks]),
    )
