"""The exported-model folder format: file names, manifest keys, version rules.

An export folder is self-contained and holds no code and no pickle::

    <dir>/export.yaml          manifest: format_version, unique_name, parameter_names, the
                               checkpoint it came from, package versions, git commit, time
    <dir>/model/               the model tree (each component: config.yaml + weights.npz,
                               children in sub-folders; egenerator.model.component_io)
    <dir>/trafo/               the parameter transformation (trafo.yaml + trafo.npz)
    <dir>/detector.csv         the DOM table the model was trained on
    <dir>/config.yaml          the resolved training config
    <dir>/reconstruction.yaml  reconstruction defaults (reconstruction_settings and the
                               I3ParticleMapping of model_manager_settings)

``format_version`` is an integer, raised whenever a reader of the previous version could not read
the new folders. A reader accepts versions up to :data:`FORMAT_VERSION` and refuses newer ones
with a message naming both; missing files and missing or unknown manifest keys are reported
one by one.
"""

from __future__ import annotations

FORMAT_VERSION = 1
MANIFEST_FILE = "export.yaml"
MODEL_DIR = "model"
TRAFO_DIR = "trafo"
DETECTOR_FILE = "detector.csv"
CONFIG_FILE = "config.yaml"
RECONSTRUCTION_FILE = "reconstruction.yaml"

#: Files and folders every export has (relative to the export folder).
REQUIRED_ENTRIES = (
    MANIFEST_FILE,
    MODEL_DIR,
    TRAFO_DIR,
    DETECTOR_FILE,
    CONFIG_FILE,
    RECONSTRUCTION_FILE,
)

#: Keys of export.yaml (format version 1), all required.
MANIFEST_KEYS = (
    "format_version",
    "kind",
    "unique_name",
    "parameter_names",
    "num_doms",
    "checkpoint",
    "created_utc",
    "git_commit",
    "package_versions",
    "files",
)
MANIFEST_KIND = "egenerator-exported-model"

__all__ = [
    "CONFIG_FILE",
    "DETECTOR_FILE",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MANIFEST_KEYS",
    "MANIFEST_KIND",
    "MODEL_DIR",
    "RECONSTRUCTION_FILE",
    "REQUIRED_ENTRIES",
    "TRAFO_DIR",
    "ExportFormatError",
]


class ExportFormatError(ValueError):
    """An export folder cannot be read by this version; the message lists every problem.

    Attributes
    ----------
    directory : str
    problems : list of str
    """

    def __init__(self, directory: str, problems: list[str]):
        self.directory = str(directory)
        self.problems = list(problems)
        if len(problems) == 1:
            text = f"{directory}: {problems[0]}"
        else:
            text = f"{directory}: {len(problems)} problems:\n  " + "\n  ".join(problems)
        super().__init__(text)
