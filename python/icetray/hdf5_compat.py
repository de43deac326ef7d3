"""Import h5py and PyTables so that they use their own HDF5 library inside IceTray processes.

IceTray's ``libtableio`` links the system HDF5 and ``icecube`` loads its libraries with
``RTLD_GLOBAL``; an h5py or PyTables wheel imported afterwards then binds to that (older) HDF5
and fails (``ValueError: Not a datatype`` in h5py, an abort in PyTables). TensorFlow imports
h5py, so every part of the IceTray layer that reaches TensorFlow calls
:func:`import_hdf5_modules` first: it imports both with ``RTLD_DEEPBIND``, which makes each look
up HDF5 symbols in its own bundled library before the global ones. Without IceTray (or when they
are already imported) this is a no-op.
"""

from __future__ import annotations

import importlib
import os
import sys


def import_hdf5_modules() -> None:
    """Import h5py and tables (when installed) with ``RTLD_DEEPBIND`` if not imported yet."""
    missing = [name for name in ("h5py", "tables") if name not in sys.modules]
    deepbind = getattr(os, "RTLD_DEEPBIND", 0)
    if not missing or not deepbind:
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | deepbind)
    try:
        for name in missing:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    finally:
        sys.setdlopenflags(flags)
