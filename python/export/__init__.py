"""egenerator.export: self-contained exported model folders (write, read, validate)."""

from .format import FORMAT_VERSION, ExportFormatError
from .reader import ExportedModel, check_export, load_exported, read_manifest
from .writer import ExportError, export_model, reconstruction_defaults

__all__ = [
    "FORMAT_VERSION",
    "ExportError",
    "ExportFormatError",
    "ExportedModel",
    "check_export",
    "export_model",
    "load_exported",
    "read_manifest",
    "reconstruction_defaults",
]
