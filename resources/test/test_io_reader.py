"""hdfwriter-layout reading: the real IceCube file, derived indices, validation and clear errors."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from egenerator.io import HdfFormatError, HdfwriterFile, HdfwriterWriter, read_dom_list, read_pulses

# Values of the shared real file, read once with plain h5py and written down here.
REAL_EVENTS = [21216, 21334]
REAL_PULSES_PER_EVENT = [1022, 415]


def test_real_file_tables_and_index(real_hdf5_path):
    with HdfwriterFile(real_hdf5_path) as f:
        assert f.tables == [
            "BrightDOMs",
            "InIceDSTPulses",
            "LabelsDeepLearning",
            "MonopodFit4_PartialExclusion",
        ]
        index = f.event_index("InIceDSTPulses")
        np.testing.assert_array_equal(index["stop"] - index["start"], REAL_PULSES_PER_EVENT)
        np.testing.assert_array_equal(index["Event"], REAL_EVENTS)
        assert f.num_rows("InIceDSTPulses") == sum(REAL_PULSES_PER_EVENT)
        ids = f.event_ids("InIceDSTPulses")
        assert ids.dtype == np.int64 and ids.shape == (2, 4)
        np.testing.assert_array_equal(ids[:, :3], [[4000, 21216, 0], [4000, 21334, 0]])
        for name in f.tables:  # every table of the file has the same events
            np.testing.assert_array_equal(f.event_ids(name), ids)
        # the rows of each event carry that event's id
        table = f.read_table("InIceDSTPulses", ["Event", "charge"])
        for k, event in enumerate(REAL_EVENTS):
            assert np.all(table["Event"][index["start"][k] : index["stop"][k]] == event)
    # independent check with plain h5py
    with h5py.File(real_hdf5_path, "r") as raw:
        events = raw["InIceDSTPulses"]["Event"]
        assert [int(np.sum(events == e)) for e in REAL_EVENTS] == REAL_PULSES_PER_EVENT


def test_real_file_labels_bright_doms_and_monopod(real_hdf5_path):
    with HdfwriterFile(real_hdf5_path) as f:
        labels = f.read_table("LabelsDeepLearning")
        np.testing.assert_allclose(labels["cascade_energy"], [2360.89976002, 924.72510464])
        np.testing.assert_allclose(labels["cascade_z"], [-322.01927101, -426.51326075])
        monopod = f.read_table("MonopodFit4_PartialExclusion", ["energy", "shape"])
        np.testing.assert_allclose(monopod["energy"], [2631.87165933, 833.56843469])
        assert list(monopod["shape"]) == [30, 30]
        np.testing.assert_array_equal(f.read_column("BrightDOMs", "om"), [48, 49, 50, 54, 55, 56])
    bright = read_dom_list(real_hdf5_path, "BrightDOMs")
    np.testing.assert_array_equal(bright.string, [26, 26, 26, 35, 35, 35])
    np.testing.assert_array_equal(bright.row_event, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(bright.stop - bright.start, [3, 3])


def test_real_file_read_pulses(real_hdf5_path):
    pulses = read_pulses(real_hdf5_path, "InIceDSTPulses")
    with h5py.File(real_hdf5_path, "r") as raw:
        table = raw["InIceDSTPulses"][()]
    assert pulses.num_pulses == table.shape[0] == 1437  # no IceTop DOMs in this file
    np.testing.assert_array_equal(pulses.charge_pe, table["charge"])
    np.testing.assert_array_equal(pulses.time_ns, table["time"])
    np.testing.assert_array_equal(np.bincount(pulses.pulse_event), REAL_PULSES_PER_EVENT)
    np.testing.assert_array_equal(pulses.start, [0, 1022])
    assert pulses.charge_pe.dtype == np.float64 and pulses.string.dtype == np.int64


def _copy_without_index(src, dst):
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        for name in a:
            if isinstance(a[name], h5py.Dataset):
                a.copy(name, b)


def test_index_derived_from_id_columns(real_hdf5_path, tmp_path):
    copy = tmp_path / "noindex.h5"
    _copy_without_index(real_hdf5_path, copy)
    with HdfwriterFile(real_hdf5_path) as real, HdfwriterFile(copy) as derived:
        for name in real.tables:
            a, b = real.event_index(name), derived.event_index(name)
            for column in ("Run", "Event", "SubEvent", "exists", "start", "stop"):
                np.testing.assert_array_equal(a[column], b[column], err_msg=name)
            # without an index the ids are the rows' own (SubEventStream 6 in this file)
            assert np.all(b["SubEventStream"] == 6)


def test_missing_table_and_column(real_hdf5_path):
    with HdfwriterFile(real_hdf5_path) as f:
        with pytest.raises(HdfFormatError, match=r"table 'MCPulses' not found; tables: \["):
            f.read_table("MCPulses")
        with pytest.raises(HdfFormatError, match="cascade_lalala"):
            f.read_column("LabelsDeepLearning", "cascade_lalala")
        with pytest.raises(HdfFormatError) as err:
            f.read_table("InIceDSTPulses", ["time", "chrge"])
        message = str(err.value)
        assert str(real_hdf5_path) in message and "'InIceDSTPulses'" in message
        assert "'chrge'" in message and "'charge'" in message  # the bad and the available ones
        assert not f.has_table("MCPulses") and f.has_table("BrightDOMs")


def test_unreadable_files(tmp_path, real_hdf5_path):
    with pytest.raises(HdfFormatError, match="does not exist"):
        HdfwriterFile(tmp_path / "nothing.h5")
    text = tmp_path / "text.h5"
    text.write_text("Run,Event\n1,2\n")
    with pytest.raises(HdfFormatError, match=r"text\.h5: not a readable hdf5 file"):
        HdfwriterFile(text)
    data = real_hdf5_path.read_bytes()
    for fraction in (0.1, 0.5, 0.9):
        truncated = tmp_path / f"truncated_{fraction}.h5"
        truncated.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(HdfFormatError, match=f"truncated_{fraction}.h5"):
            with HdfwriterFile(truncated) as f:
                for name in f.tables:
                    f.read_table(name)
                    f.event_index(name)


def test_inconsistent_index(tmp_path, real_hdf5_path):
    for case in ("short", "overlap"):
        path = tmp_path / f"{case}.h5"
        shutil.copy(real_hdf5_path, path)
        with h5py.File(path, "r+") as f:
            index = f["__I3Index__/InIceDSTPulses"][()]
            if case == "short":
                index["stop"][-1] = 1400
            else:
                index["start"][1] = 1000
            f["__I3Index__/InIceDSTPulses"][...] = index
        with HdfwriterFile(path) as f:
            expected = "1400 rows but table" if case == "short" else "row 1: start 1000"
            with pytest.raises(HdfFormatError, match=expected):
                f.event_index("InIceDSTPulses")
            f.event_index("BrightDOMs")  # the other tables are fine


def _pulse_file(path, charge, time, om=None):
    n = len(charge)
    om = np.full(n, 5) if om is None else np.asarray(om)
    with HdfwriterWriter(path) as w:
        w.append_ragged_table(
            "Pulses",
            [[1, 100, 0, 0], [1, 101, 0, 0]],
            [n - 2, 2],
            {
                "string": np.full(n, 3, np.int32),
                "om": om.astype(np.uint32),
                "time": np.asarray(time, float),
                "charge": np.asarray(charge, float),
            },
        )


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [("charge", 3, np.nan), ("charge", 1, -0.5), ("time", 4, np.inf), ("charge", 4, -np.inf)],
)
def test_read_pulses_rejects_bad_values(tmp_path, column, row, value):
    charge, time = np.ones(5), np.arange(5.0)
    {"charge": charge, "time": time}[column][row] = value
    path = tmp_path / "bad.h5"
    _pulse_file(path, charge, time)
    event = 100 if row < 3 else 101
    with pytest.raises(HdfFormatError) as err:
        read_pulses(path, "Pulses")
    message = str(err.value)
    assert message.startswith(str(path))
    assert f"table 'Pulses' column '{column}' row {row} (Run 1, Event {event})" in message
    assert repr(float(value)) in message or str(value) in message


def test_read_pulses_skips_icetop(tmp_path):
    path = tmp_path / "icetop.h5"
    _pulse_file(path, [1.0, 2.0, 3.0, 4.0, 5.0], np.arange(5.0), om=[5, 61, 7, 62, 8])
    pulses = read_pulses(path, "Pulses")
    np.testing.assert_array_equal(pulses.charge_pe, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(pulses.start, [0, 2])
    np.testing.assert_array_equal(pulses.stop, [2, 3])
    np.testing.assert_array_equal(pulses.pulse_event, [0, 0, 1])
    everything = read_pulses(path, "Pulses", skip_icetop=False)
    assert everything.num_pulses == 5


def test_corrupt_bytes_give_format_errors(tmp_path, real_hdf5_path):
    """Zeroed 800-byte blocks anywhere: reading fails with HdfFormatError or not at all."""
    data = real_hdf5_path.read_bytes()
    raised = 0
    for start in range(0, len(data) - 800, 2000):
        corrupt = bytearray(data)
        corrupt[start : start + 800] = bytes(800)
        path = tmp_path / f"corrupt_{start}.h5"
        path.write_bytes(bytes(corrupt))
        try:
            with HdfwriterFile(path) as f:
                for name in f.tables:
                    f.read_table(name)
                    f.event_index(name)
        except HdfFormatError as err:
            assert str(path) in str(err)
            raised += 1
    assert raised > 5
