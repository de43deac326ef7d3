"""egenerator: neural-network event hypotheses and likelihood reconstruction for IceCube.

The package imports as ``egenerator`` when pip-installed and as ``icecube.egenerator`` inside an
IceTray build; all imports inside it are relative.
"""

__version__ = "0.1.0"

# Parameter order of a single cascade hypothesis (units: m, m, m, rad, rad, GeV, ns).
CASCADE_PARAMETER_NAMES = ("x", "y", "z", "zenith", "azimuth", "energy", "time")
