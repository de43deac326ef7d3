"""egenerator.model.source: leaf sources (cascade network, noise, physics oracle).

``OracleSource`` / ``build_oracle`` live in :mod:`.oracle` (imported on demand: it pulls in the
TensorFlow twin of the simulator physics).
"""

from .base import Source, SourceConfigError
from .cascade import CASCADE_PARAMETER_NAMES, CascadeSource
from .noise import NoiseSource

__all__ = ["CASCADE_PARAMETER_NAMES", "CascadeSource", "NoiseSource", "Source", "SourceConfigError"]
