"""Detector description: the DOM table, the generated ic86-like layout and file loaders."""

from .layout import ic86_like
from .table import DetectorTable, DetectorTableError

__all__ = ["DetectorTable", "DetectorTableError", "ic86_like"]
