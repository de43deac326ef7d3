"""egenerator.model.multi_source: hypotheses made of several sources (nestable)."""

from .independent import IndependentMultiSource

__all__ = ["IndependentMultiSource"]
