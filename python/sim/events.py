"""SimulatedEvents: what the embedded simulator produces and the hdf5 writer consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SimulatedEvents:
    """A chunk of B simulated events on a detector of D DOMs.

    Pulse arrays are flat and ordered by (event, DOM index, time).

    Attributes
    ----------
    parameters : [B, 7] float64
        True cascade parameters (x, y, z [m], zenith, azimuth [rad], energy [GeV], time [ns]).
    pulse_event, pulse_dom : [N] int64
        Event index (0..B-1 within the chunk) and DOM index of each recorded pulse.
    pulse_time_ns, pulse_charge_pe : [N] float64
        Time [ns] and charge [PE] of each recorded pulse (cascade light + noise).
    mc_pulse_event, mc_pulse_dom, mc_pulse_time_ns, mc_pulse_charge_pe : [M]
        The same for pulses made from cascade light only ("MCPulsesWithoutNoise").
    readout_window_ns : [B, 2] float64
        Readout window (start, stop) [ns].
    bad_doms : [K] int64
        Indices of dead DOMs (the same for every event; written as BadDomsList per event).
    run_id : int
        Run number written to every table.
    event_number : [B] int64
        IceCube event number of each event.
    """

    parameters: np.ndarray
    pulse_event: np.ndarray
    pulse_dom: np.ndarray
    pulse_time_ns: np.ndarray
    pulse_charge_pe: np.ndarray
    mc_pulse_event: np.ndarray
    mc_pulse_dom: np.ndarray
    mc_pulse_time_ns: np.ndarray
    mc_pulse_charge_pe: np.ndarray
    readout_window_ns: np.ndarray
    bad_doms: np.ndarray
    run_id: int
    event_number: np.ndarray

    @property
    def num_events(self) -> int:
        return int(self.parameters.shape[0])
