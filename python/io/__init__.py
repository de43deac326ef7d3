"""egenerator.io: hdf5 files in IceTray hdfwriter layout (reading with h5py, writing with PyTables).

- :class:`HdfwriterFile` reads tables, columns and the per-event index (``__I3Index__``).
- :func:`read_pulses`, :func:`read_dom_list` give validated flat arrays with an event index.
- :class:`HdfwriterWriter` appends one-row-per-event and ragged tables with their index.
- :func:`write_simulation` streams simulated events into a file.
"""

from .pulses import DomList, PulseSeries, read_dom_list, read_pulses
from .reader import EVENT_INDEX_DTYPE, HdfFormatError, HdfwriterFile
from .writer import HdfWriteError, HdfwriterWriter, write_simulation

__all__ = [
    "EVENT_INDEX_DTYPE",
    "DomList",
    "HdfFormatError",
    "HdfWriteError",
    "HdfwriterFile",
    "HdfwriterWriter",
    "PulseSeries",
    "read_dom_list",
    "read_pulses",
    "write_simulation",
]
