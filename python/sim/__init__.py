"""egenerator.sim: the embedded simulator of PHYSICS.md and its exact likelihood ("oracle").

- :mod:`.physics`: :class:`PhysicsConfig`, every constant of PHYSICS.md.
- :mod:`.light`: expected cascade photoelectrons per DOM and the geometry behind them.
- :mod:`.timing`: density and CDF of the photon delay (Pandel convolved with the jitter).
- :mod:`.oracle`: expected charge and pulse-time density/CDF per DOM (numpy).
- :mod:`.sampler`: random events -> :class:`SimulatedEvents` chunks.
"""

from .events import SimulatedEvents
from .light import expected_photoelectrons
from .oracle import expected_charge, time_cdf, time_pdf
from .physics import DEFAULT_PHYSICS, PhysicsConfig, PhysicsConfigError
from .sampler import SamplerError, sample_parameters, simulate_events
from .timing import delay_cdf, delay_log_pdf, delay_pdf

__all__ = [
    "DEFAULT_PHYSICS",
    "PhysicsConfig",
    "PhysicsConfigError",
    "SamplerError",
    "SimulatedEvents",
    "delay_cdf",
    "delay_log_pdf",
    "delay_pdf",
    "expected_charge",
    "expected_photoelectrons",
    "sample_parameters",
    "simulate_events",
    "time_cdf",
    "time_pdf",
]
