"""Pseudo-events sampled from a hypothesis, for the goodness of fit.

:class:`SourceSampler` samples from any Source's own distributions, so it serves trained models
and the oracle alike: per valid DOM a photoelectron count from the source's charge distribution
(Poisson where the variance equals the mean, else the negative binomial as a gamma-Poisson
mixture), and for every photoelectron an arrival time by inverting the source's window-normalised
CDF (``pulse_cdf``) with bisection over the readout window. Photoelectrons inside the event's
exclusion windows are dropped (thinning, which is exact for the excluded probability mass).
Each photoelectron becomes a pulse of charge 1 PE (no pulse merging).

:class:`SimulatorSampler` wraps the embedded simulator for the oracle: pseudo-events made by the
same process as the data, then given the original event's DOM validity and exclusion windows.

Every sampler is a callable ``sampler(batch, parameters [B, P], num_per_event, seed) ->
(EventBatch of B * num_per_event events, owner [B * num_per_event])`` where ``owner`` is the
original event of each pseudo-event (pseudo-events of event b are rows ``b*K .. b*K+K-1``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..data.batch import EventBatch
from ..data.exclusions import pulses_in_windows
from .objective import source_parameter_dtype

BISECTION_STEPS = 40


def _template(batch: EventBatch, num_per_event: int) -> tuple[EventBatch, np.ndarray]:
    """B * K copies of the events without pulses (copy j of event b is row b * K + j), with
    their exclusion windows; returns it and the owner (original event) of each copy."""
    k = int(num_per_event)
    b = batch.num_events
    owner = np.repeat(np.arange(b), k)
    w_event = np.asarray(batch.window_event, dtype=np.int64)
    order = np.argsort(w_event, kind="stable")
    w_event = w_event[order]
    # every window of event e appears once per copy: new event e * K + j
    copies = np.arange(k)
    new_event = (w_event[:, None] * k + copies[None, :]).ravel()
    take = np.repeat(order, k)
    worder = np.argsort(new_event, kind="stable")
    empty_i = np.zeros(0, dtype=np.int64)
    return (
        EventBatch(
            parameters=np.asarray(batch.parameters)[owner],
            pulse_charge_pe=np.zeros(0),
            pulse_time_ns=np.zeros(0),
            pulse_event=empty_i,
            pulse_dom=empty_i,
            dom_charge=np.zeros((b * k, batch.num_doms)),
            dom_valid=np.asarray(batch.dom_valid)[owner],
            time_window_ns=np.asarray(batch.time_window_ns)[owner],
            window_exclusions_ns=np.asarray(batch.window_exclusions_ns)[take][worder],
            window_event=new_event[worder],
            window_dom=np.asarray(batch.window_dom)[take][worder],
            event_id=np.asarray(batch.event_id)[owner],
            weights=np.asarray(batch.weights)[owner],
        ),
        owner,
    )


def _with_pulses(
    template: EventBatch,
    pulse_event: np.ndarray,
    pulse_dom: np.ndarray,
    pulse_time_ns: np.ndarray,
    pulse_charge_pe: np.ndarray,
    parameters: np.ndarray,
) -> EventBatch:
    order = np.lexsort((pulse_time_ns, pulse_dom, pulse_event))
    pulse_event, pulse_dom = pulse_event[order], pulse_dom[order]
    pulse_time_ns, pulse_charge_pe = pulse_time_ns[order], pulse_charge_pe[order]
    dom_charge = np.zeros_like(template.dom_charge)
    np.add.at(dom_charge, (pulse_event, pulse_dom), pulse_charge_pe)
    fields = template.as_dict()
    fields.update(
        parameters=np.asarray(parameters, dtype=np.float64),
        pulse_charge_pe=pulse_charge_pe.astype(np.float64),
        pulse_time_ns=pulse_time_ns.astype(np.float64),
        pulse_event=pulse_event.astype(np.int64),
        pulse_dom=pulse_dom.astype(np.int64),
        dom_charge=dom_charge,
    )
    return EventBatch(**fields)


def _drop_excluded(template: EventBatch, event, dom, time) -> np.ndarray:
    """Keep-mask [N]: pulses on valid DOMs and outside the exclusion windows of their DOM."""
    keep = template.dom_valid[event, dom]
    if template.window_exclusions_ns.shape[0]:
        inside = pulses_in_windows(
            event,
            dom,
            time,
            template.window_event,
            template.window_dom,
            template.window_exclusions_ns[:, 0],
            template.window_exclusions_ns[:, 1],
            template.num_doms,
        )
        keep &= ~np.asarray(inside, dtype=bool)
    return keep


class SourceSampler:
    """Pseudo-events from a Source's charge and time distributions (see the module docstring).

    Parameters
    ----------
    source : Source
    num_doms : int, optional
        Default: ``source.num_doms``.
    """

    def __init__(self, source, num_doms: int | None = None) -> None:
        self.source = source
        self.num_doms = int(num_doms if num_doms is not None else source.num_doms)
        self.num_parameters = len(source.parameter_names)
        self.dtype = source_parameter_dtype(source)
        window = {
            "time_window_ns": tf.TensorSpec([None, 2], tf.float64),
            "pulse_time_ns": tf.TensorSpec([None], tf.float64),
            "pulse_event": tf.TensorSpec([None], tf.int32),
            "pulse_dom": tf.TensorSpec([None], tf.int32),
            "window_exclusions_ns": tf.TensorSpec([None, 2], tf.float64),
            "window_event": tf.TensorSpec([None], tf.int32),
            "window_dom": tf.TensorSpec([None], tf.int32),
        }
        params = tf.TensorSpec([None, self.num_parameters], tf.float64)
        self._charges = tf.function(
            self._charges_graph, autograph=False, input_signature=(params, window)
        )
        self._cdf = tf.function(self._cdf_graph, autograph=False, input_signature=(params, window))

    def _call(self, parameters, tensors):
        cast = tf.cast(parameters, self.dtype)
        inputs = dict(tensors)
        inputs["parameters"] = cast
        return self.source(cast, inputs)

    def _charges_graph(self, parameters, tensors):
        res = self._call(parameters, tensors)
        return (
            tf.cast(res["dom_charges"], tf.float64),
            tf.cast(res["dom_charges_variance"], tf.float64),
        )

    def _cdf_graph(self, parameters, tensors):
        return tf.cast(self._call(parameters, tensors)["pulse_cdf"], tf.float64)

    @staticmethod
    def _tensors(window_ns, event, dom, time) -> dict:
        return {
            "time_window_ns": tf.constant(window_ns, tf.float64),
            "pulse_time_ns": tf.constant(time, tf.float64),
            "pulse_event": tf.constant(event, tf.int32),
            "pulse_dom": tf.constant(dom, tf.int32),
            "window_exclusions_ns": tf.zeros([0, 2], tf.float64),
            "window_event": tf.zeros([0], tf.int32),
            "window_dom": tf.zeros([0], tf.int32),
        }

    def expected_charges(self, parameters: np.ndarray, window_ns: np.ndarray):
        """Mean and variance [B, D] of the charge in the readout window (no exclusions)."""
        tensors = self._tensors(window_ns, np.zeros(0), np.zeros(0), np.zeros(0))
        mean, var = self._charges(tf.constant(parameters, tf.float64), tensors)
        return mean.numpy(), var.numpy()

    def sample_times(
        self,
        parameters: np.ndarray,
        window_ns: np.ndarray,
        event: np.ndarray,
        dom: np.ndarray,
        uniform: np.ndarray,
    ) -> np.ndarray:
        """Times [N] with ``CDF(t) = uniform`` on (event, DOM) by bisection in the window."""
        low = window_ns[event, 0].astype(np.float64)
        high = window_ns[event, 1].astype(np.float64)
        params = tf.constant(parameters, tf.float64)
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (low + high)
            cdf = self._cdf(params, self._tensors(window_ns, event, dom, mid)).numpy()
            below = cdf < uniform
            low = np.where(below, mid, low)
            high = np.where(below, high, mid)
        return 0.5 * (low + high)

    def __call__(
        self, batch: EventBatch, parameters: np.ndarray, num_per_event: int, seed: int
    ) -> tuple[EventBatch, np.ndarray]:
        """B * num_per_event pseudo-events from hypotheses ``parameters`` [B, P]."""
        rng = np.random.default_rng(seed)
        parameters = np.asarray(parameters, dtype=np.float64)
        window = np.asarray(batch.time_window_ns, dtype=np.float64)
        template, owner = _template(batch, num_per_event)
        mean, var = self.expected_charges(parameters, window)
        mean = np.maximum(mean, 0.0)[owner]
        extra = np.maximum(var[owner] - mean, 0.0)
        # gamma-Poisson mixture where over-dispersed (var > mean), Poisson elsewhere
        overdispersed = extra > 1e-9 * np.maximum(mean, 1e-300)
        rate = mean.copy()
        if np.any(overdispersed):
            m, e = mean[overdispersed], extra[overdispersed]
            rate[overdispersed] = rng.gamma(shape=m * m / e, scale=e / m)
        counts = rng.poisson(rate) * template.dom_valid
        pseudo_event, pseudo_dom = np.nonzero(counts)
        n = counts[pseudo_event, pseudo_dom]
        pseudo_event = np.repeat(pseudo_event, n)
        pseudo_dom = np.repeat(pseudo_dom, n)
        uniform = rng.uniform(size=pseudo_event.size)
        times = self.sample_times(parameters, window, owner[pseudo_event], pseudo_dom, uniform)
        keep = _drop_excluded(template, pseudo_event, pseudo_dom, times)
        pseudo = _with_pulses(
            template,
            pseudo_event[keep],
            pseudo_dom[keep],
            times[keep],
            np.ones(int(keep.sum())),
            parameters[owner],
        )
        return pseudo, owner


class SimulatorSampler:
    """Pseudo-events from the embedded simulator (for the oracle).

    Parameters
    ----------
    detector : DetectorTable
    parameter_names : sequence of str
        The fit's parameters; the seven cascade kinds are handed to the simulator.
    physics_config : PhysicsConfig, optional
    """

    def __init__(self, detector, parameter_names, physics_config=None) -> None:
        from .seeds import _index_of

        self.detector = detector
        self.physics_config = physics_config
        self.kinds = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
        self.index = [_index_of(parameter_names, k) for k in self.kinds]
        if any(i is None for i in self.index):
            raise ValueError(
                f"the simulator sampler needs cascade parameters, got {list(parameter_names)}"
            )

    def __call__(
        self, batch: EventBatch, parameters: np.ndarray, num_per_event: int, seed: int
    ) -> tuple[EventBatch, np.ndarray]:
        from ..sim.physics import PhysicsConfig
        from ..sim.sampler import concatenate_chunks, simulate_events

        config = self.physics_config or PhysicsConfig()
        parameters = np.asarray(parameters, dtype=np.float64)
        template, owner = _template(batch, num_per_event)
        chunks = []
        for b in range(batch.num_events):
            fixed = {
                k: float(parameters[b, i]) for k, i in zip(self.kinds, self.index, strict=True)
            }
            chunks.extend(
                simulate_events(
                    num_per_event,
                    seed=int(seed) * 100003 + b,
                    detector=self.detector,
                    config=config,
                    fixed=fixed,
                    chunk_size=max(1, num_per_event),
                )
            )
        sim = concatenate_chunks(chunks)
        event, dom = np.asarray(sim.pulse_event), np.asarray(sim.pulse_dom)
        time, charge = np.asarray(sim.pulse_time_ns), np.asarray(sim.pulse_charge_pe)
        keep = _drop_excluded(template, event, dom, time)
        pseudo = _with_pulses(
            template, event[keep], dom[keep], time[keep], charge[keep], parameters[owner]
        )
        return pseudo, owner
