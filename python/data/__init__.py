"""Events -> batches of arrays/tensors: EventBatch, exclusions, time windows, trafo, pipeline."""

from .batch import EventBatch

__all__ = ["EventBatch"]
