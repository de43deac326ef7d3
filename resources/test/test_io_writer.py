"""hdfwriter-layout writing: round trip, pandas, layout of a real file, determinism, errors."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pandas as pd
import pytest
from egenerator.io import HdfWriteError, HdfwriterFile, HdfwriterWriter, write_simulation
from egenerator.io.schema import CASCADE_LABEL_NAMES, PARTICLE_FIELDS
from egenerator.io.writer import SIMULATION_TABLES, _write_chunk
from egenerator.sim.events import SimulatedEvents

NUM_EVENTS = 12


def random_chunk(
    rng: np.random.Generator,
    first_event: int,
    num_events: int,
    num_doms: int,
    empty=(),
    mean_pulses: float = 40.0,
) -> SimulatedEvents:
    """Test data: random pulses in (event, DOM, time) order; events in ``empty`` get none."""

    def pulses(mean):
        counts = rng.poisson(mean, size=num_events)
        counts[list(empty)] = 0
        event = np.repeat(np.arange(num_events), counts)
        dom = rng.integers(0, num_doms, size=event.size)
        time = rng.uniform(0.0, 2e4, size=event.size)
        order = np.lexsort((time, dom, event))
        return event[order], dom[order], time[order], rng.uniform(0.25, 3.0, event.size)

    event, dom, time, charge = pulses(mean_pulses)
    mc_event, mc_dom, mc_time, mc_charge = pulses(0.6 * mean_pulses)
    parameters = np.column_stack(
        [
            rng.uniform(-500, 500, (num_events, 3)),
            np.arccos(rng.uniform(-1, 1, num_events)),
            rng.uniform(0, 2 * np.pi, num_events),
            10 ** rng.uniform(3, 6, num_events),
            rng.uniform(9000, 10500, num_events),
        ]
    )
    return SimulatedEvents(
        parameters=parameters,
        pulse_event=event,
        pulse_dom=dom,
        pulse_time_ns=time,
        pulse_charge_pe=charge,
        mc_pulse_event=mc_event,
        mc_pulse_dom=mc_dom,
        mc_pulse_time_ns=mc_time,
        mc_pulse_charge_pe=mc_charge,
        readout_window_ns=np.tile([0.0, 20000.0], (num_events, 1)),
        bad_doms=np.array([3, 17, 40]),
        run_id=7,
        event_number=np.arange(first_event, first_event + num_events) * 2 + 1,
    )


def make_chunks(
    detector, seed=1, chunk_size=5, num_events=NUM_EVENTS, empty_global=(4,), mean_pulses=40.0
):
    rng = np.random.default_rng(seed)
    chunks = []
    for first in range(0, num_events, chunk_size):
        size = min(chunk_size, num_events - first)
        empty = [e - first for e in empty_global if first <= e < first + size]
        chunks.append(random_chunk(rng, first, size, detector.num_doms, empty, mean_pulses))
    return chunks


@pytest.fixture(scope="module")
def written(tmp_path_factory, small_detector):
    chunks = make_chunks(small_detector)
    path = tmp_path_factory.mktemp("writer") / "sim.hdf5"
    summary = write_simulation(path, iter(chunks), small_detector)
    return path, chunks, summary


def _expected_pulses(chunks, detector, mc=False):
    """Brute force: a Python loop building the pulse table rows in hdfwriter order."""
    rows = []
    for sim in chunks:
        prefix = "mc_pulse_" if mc else "pulse_"
        event = getattr(sim, prefix + "event")
        dom = getattr(sim, prefix + "dom")
        time = getattr(sim, prefix + "time_ns")
        charge = getattr(sim, prefix + "charge_pe")
        counter: dict[tuple[int, int], int] = {}
        for e, d, t, q in zip(event, dom, time, charge, strict=True):
            k = counter.get((int(e), int(d)), 0)
            counter[(int(e), int(d))] = k + 1
            rows.append(
                (7, int(sim.event_number[e]), int(detector.string[d]), int(detector.om[d]), k, t, q)
            )
    return np.array(rows, dtype=np.float64).reshape(-1, 7)


def test_round_trip_pulses_and_index(written, small_detector):
    path, chunks, summary = written
    expected = _expected_pulses(chunks, small_detector)
    with HdfwriterFile(path) as f:
        assert f.tables == sorted(SIMULATION_TABLES)
        table = f.read_table("InIceDSTPulses")
        got = np.column_stack(
            [table[c] for c in ("Run", "Event", "string", "om", "vector_index", "time", "charge")]
        ).astype(np.float64)
        np.testing.assert_array_equal(got, expected)
        assert np.all(table["pmt"] == 0) and np.all(table["width"] == 0)
        assert np.all(table["exists"] == 1) and np.all(table["SubEventStream"] == 0)
        index = f.event_index("InIceDSTPulses")
        numbers = np.concatenate([c.event_number for c in chunks])
        np.testing.assert_array_equal(index["Event"], numbers)
        counts = np.concatenate(
            [np.bincount(c.pulse_event, minlength=c.num_events) for c in chunks]
        )
        np.testing.assert_array_equal(index["stop"] - index["start"], counts)
        # the empty event (global event 4) is still in the index, exists, with start == stop
        assert index["start"][4] == index["stop"][4] and index["exists"][4]
        # each event's rows carry that event's id
        for k in range(NUM_EVENTS):
            rows = table[index["start"][k] : index["stop"][k]]
            assert np.all(rows["Event"] == numbers[k])
        mc = f.read_table("MCPulsesWithoutNoise")
        got_mc = np.column_stack(
            [mc[c] for c in ("Run", "Event", "string", "om", "vector_index", "time", "charge")]
        ).astype(np.float64)
        np.testing.assert_array_equal(got_mc, _expected_pulses(chunks, small_detector, mc=True))
    assert summary["events"] == NUM_EVENTS
    assert summary["pulses"] == expected.shape[0]
    total = sum(float(c.pulse_charge_pe.sum()) for c in chunks)
    assert summary["charge_pe_per_event"] == pytest.approx(total / NUM_EVENTS)


def test_round_trip_event_tables(written, small_detector):
    path, chunks, _ = written
    parameters = np.concatenate([c.parameters for c in chunks])
    with HdfwriterFile(path) as f:
        labels = f.read_table("LabelsDeepLearning")
        assert f.columns("LabelsDeepLearning")[5:] == list(CASCADE_LABEL_NAMES)
        for name, k in zip(
            ("cascade_x", "cascade_y", "cascade_z", "cascade_zenith", "cascade_azimuth"),
            range(5),
            strict=True,
        ):
            np.testing.assert_array_equal(labels[name], parameters[:, k])
        np.testing.assert_array_equal(labels["cascade_energy"], parameters[:, 5])
        np.testing.assert_array_equal(labels["cascade_t"], parameters[:, 6])
        particle = f.read_table("MCCascade")
        for name, k in (("x", 0), ("y", 1), ("z", 2), ("zenith", 3), ("azimuth", 4)):
            np.testing.assert_array_equal(particle[name], parameters[:, k])
        np.testing.assert_array_equal(particle["energy"], parameters[:, 5])
        np.testing.assert_array_equal(particle["time"], parameters[:, 6])
        assert np.all(particle["shape"] == 30) and np.all(particle["pdg_encoding"] == 11)
        bad = f.read_table("BadDomsList")
        assert bad.shape[0] == 3 * NUM_EVENTS
        np.testing.assert_array_equal(bad["string"][:3], small_detector.string[[3, 17, 40]])
        np.testing.assert_array_equal(bad["om"][:3], small_detector.om[[3, 17, 40]])
        np.testing.assert_array_equal(bad["vector_index"], np.tile([0, 1, 2], NUM_EVENTS))
        window = f.read_table("ReadoutWindow")
        np.testing.assert_array_equal(window["start"], 0.0)
        np.testing.assert_array_equal(window["stop"], 20000.0)
        header = f.read_table("I3EventHeader")
        numbers = np.concatenate([c.event_number for c in chunks])
        np.testing.assert_array_equal(header["Event"], numbers)
        # event n starts n seconds after MJD 58849.0; it lasts 20 us
        seconds = header["time_start_mjd_day"] * 86400.0 + header["time_start_mjd_sec"]
        np.testing.assert_array_equal(seconds - 58849 * 86400.0, numbers)
        np.testing.assert_array_equal(
            header["time_end_utc_daq"] - header["time_start_utc_daq"], 200000
        )
        for name in f.tables:
            np.testing.assert_array_equal(f.event_ids(name)[:, 1], numbers)


def test_pandas_reads_every_table(written):
    path, _, _ = written
    with h5py.File(path, "r") as f:
        keys = [k for k in f if isinstance(f[k], h5py.Dataset)]
        keys += [f"__I3Index__/{k}" for k in f["__I3Index__"]]
        assert len(keys) == 2 * len(SIMULATION_TABLES)
        for key in keys:
            frame = pd.read_hdf(path, key)
            data = f[key][()]
            assert list(frame.columns) == list(data.dtype.names)
            assert len(frame) == data.shape[0]
            for column in data.dtype.names:
                np.testing.assert_array_equal(frame[column].to_numpy(), data[column])


def test_layout_matches_real_file(written, real_hdf5_path):
    path, _, _ = written
    with h5py.File(real_hdf5_path, "r") as real, h5py.File(path, "r") as ours:
        pairs = [
            ("InIceDSTPulses", "InIceDSTPulses"),
            ("InIceDSTPulses", "MCPulsesWithoutNoise"),
            ("BrightDOMs", "BadDomsList"),
            ("MonopodFit4_PartialExclusion", "MCCascade"),
            ("LabelsDeepLearning", "LabelsDeepLearning"),
            ("__I3Index__/InIceDSTPulses", "__I3Index__/InIceDSTPulses"),
        ]
        for real_key, our_key in pairs:
            a, b = real[real_key], ours[our_key]
            assert a.dtype.names == b.dtype.names, our_key
            for name in a.dtype.names:
                assert a.dtype[name] == b.dtype[name], (our_key, name)
                assert a.dtype.fields[name][1] == b.dtype.fields[name][1], (our_key, name)
            for attr in ("CLASS", "__I3RaggedTable__"):
                assert np.array_equal(a.attrs[attr], b.attrs[attr]), (our_key, attr)
            for k in range(len(a.dtype.names)):
                for what in ("NAME", "UNIT", "DOC"):
                    if our_key == "MCCascade" and what == "DOC":
                        continue
                    attr = f"FIELD_{k}_{what}"
                    assert a.attrs[attr] == b.attrs[attr], (our_key, attr)
    assert [f.name for f in PARTICLE_FIELDS] == list(
        h5py.File(real_hdf5_path, "r")["MonopodFit4_PartialExclusion"].dtype.names[5:]
    )


def _all_datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def test_same_seed_same_bytes_and_chunking_independent(tmp_path, small_detector):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    write_simulation(a, make_chunks(small_detector, seed=3), small_detector)
    write_simulation(b, make_chunks(small_detector, seed=3), small_detector)
    assert a.read_bytes() == b.read_bytes()
    # the same events in one chunk: same datasets (the bytes may differ)
    one = make_chunks(small_detector, seed=3)
    merged = _merge(one)
    write_simulation(c, [merged], small_detector)
    da, dc = _all_datasets(a), _all_datasets(c)
    assert da.keys() == dc.keys()
    for key in da:
        np.testing.assert_array_equal(da[key], dc[key], err_msg=key)


def _merge(chunks):
    offsets = np.cumsum([0] + [c.num_events for c in chunks[:-1]])

    def cat(name, shift=False):
        return np.concatenate(
            [getattr(c, name) + (o if shift else 0) for c, o in zip(chunks, offsets, strict=True)]
        )

    return SimulatedEvents(
        parameters=cat("parameters"),
        pulse_event=cat("pulse_event", True),
        pulse_dom=cat("pulse_dom"),
        pulse_time_ns=cat("pulse_time_ns"),
        pulse_charge_pe=cat("pulse_charge_pe"),
        mc_pulse_event=cat("mc_pulse_event", True),
        mc_pulse_dom=cat("mc_pulse_dom"),
        mc_pulse_time_ns=cat("mc_pulse_time_ns"),
        mc_pulse_charge_pe=cat("mc_pulse_charge_pe"),
        readout_window_ns=cat("readout_window_ns"),
        bad_doms=chunks[0].bad_doms,
        run_id=chunks[0].run_id,
        event_number=cat("event_number"),
    )


def test_unsorted_pulses_are_ordered(tmp_path, small_detector):
    chunk = make_chunks(small_detector, seed=5, chunk_size=NUM_EVENTS)[0]
    order = np.random.default_rng(0).permutation(chunk.pulse_event.size)
    shuffled = _merge([chunk])
    for name in ("pulse_event", "pulse_dom", "pulse_time_ns", "pulse_charge_pe"):
        setattr(shuffled, name, getattr(chunk, name)[order])
    write_simulation(tmp_path / "a.h5", [chunk], small_detector)
    write_simulation(tmp_path / "b.h5", [shuffled], small_detector)
    with HdfwriterFile(tmp_path / "a.h5") as a, HdfwriterFile(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(
            a.read_table("InIceDSTPulses"), b.read_table("InIceDSTPulses")
        )


def test_writer_append_mode_and_exists(tmp_path):
    path = tmp_path / "w.h5"
    ids = np.array([[1, 10, 0, 0], [1, 11, 0, 0]])
    with HdfwriterWriter(path) as w:
        w.append_ragged_table("Pulses", ids, [2, 0], {"charge": np.array([1.0, 2.0])})
        w.append_event_table("Labels", ids, {"e": np.array([5.0, 6.0])}, exists=[True, False])
    with HdfwriterWriter(path, mode="a") as w:
        w.append_ragged_table("Pulses", [[1, 12, 0, 0]], [1], {"charge": np.array([3.0])})
        w.append_event_table("Labels", [[1, 12, 0, 0]], {"e": np.array([7.0])})
    with HdfwriterFile(path) as f:
        index = f.event_index("Pulses")
        np.testing.assert_array_equal(index["start"], [0, 2, 2])
        np.testing.assert_array_equal(index["stop"], [2, 2, 3])
        np.testing.assert_array_equal(f.read_column("Pulses", "charge"), [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(f.event_index("Labels")["exists"], [True, False, True])
        np.testing.assert_array_equal(f.event_ids("Labels")[:, 1], [10, 12])
        np.testing.assert_array_equal(f.read_column("Labels", "exists"), [1, 0, 1])


def test_writer_errors(tmp_path, small_detector):
    ids = np.array([[1, 10, 0, 0], [1, 11, 0, 0]])
    with HdfwriterWriter(tmp_path / "e.h5") as w:
        with pytest.raises(HdfWriteError, match=r"table 'P' column 'charge' has shape \(3,\)"):
            w.append_ragged_table("P", ids, [1, 1], {"charge": np.zeros(3)})
        with pytest.raises(HdfWriteError, match="event_ids must be an"):
            w.append_event_table("L", ids[:, :3], {"e": np.zeros(2)})
        with pytest.raises(HdfWriteError, match="Run of event 1 is -1"):
            w.append_event_table("L", [[1, 1, 0, 0], [-1, 2, 0, 0]], {"e": np.zeros(2)})
        with pytest.raises(HdfWriteError, match="reserved"):
            w.append_event_table("L", ids, {"Run": np.zeros(2)})
        w.append_event_table("L", ids, {"e": np.zeros(2), "n": np.zeros(2, np.uint32)})
        with pytest.raises(HdfWriteError, match=r"table 'L' has columns \['e', 'n'\]"):
            w.append_event_table("L", ids, {"e": np.zeros(2)})
        with pytest.raises(HdfWriteError, match="column 'n' has value -3"):
            w.append_event_table("L", ids, {"e": np.zeros(2), "n": np.array([1, -3])})
        with pytest.raises(HdfWriteError, match="is a one-row-per-event table"):
            w.append_ragged_table("L", ids, [1, 1], {"e": np.zeros(2), "n": np.zeros(2)})
    chunks = make_chunks(small_detector, seed=2)
    chunks[1].event_number = chunks[1].event_number - 100
    with pytest.raises(HdfWriteError, match="event numbers must increase strictly"):
        write_simulation(tmp_path / "s.h5", chunks, small_detector)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.h5"]  # nothing half-written
    chunks = make_chunks(small_detector, seed=2)
    chunks[0].pulse_dom = chunks[0].pulse_dom + small_detector.num_doms
    with pytest.raises(ValueError, match="DOM index out of range"):
        write_simulation(tmp_path / "s.h5", chunks, small_detector)


def _unshuffled_chunks(dataset):
    """Raw rows [n, itemsize] of every stored chunk (inverse of HDF5 shuffle + deflate)."""
    itemsize = dataset.dtype.itemsize
    for k in range(dataset.id.get_num_chunks()):
        info = dataset.id.get_chunk_info(k)
        _, data = dataset.id.read_direct_chunk(info.chunk_offset)
        raw = np.frombuffer(zlib.decompress(data), np.uint8)
        yield raw.reshape(itemsize, -1).T


def test_background_compression_matches_pytables(tmp_path, small_detector):
    """Tables of several chunks: threaded direct chunk writes == PyTables' own filters."""
    chunks = make_chunks(small_detector, seed=4, chunk_size=4, mean_pulses=1500.0)
    threaded, plain, again = tmp_path / "t.h5", tmp_path / "p.h5", tmp_path / "a.h5"
    with HdfwriterWriter(threaded, threads=2) as w:
        for sim in chunks:
            _write_chunk(w, sim, small_detector)
    with HdfwriterWriter(plain, threads=0) as w:
        for sim in chunks:
            _write_chunk(w, sim, small_detector)
    write_simulation(again, chunks, small_detector)
    da, dp = _all_datasets(threaded), _all_datasets(plain)
    for key in da:
        np.testing.assert_array_equal(da[key], dp[key], err_msg=key)
    assert threaded.read_bytes() == again.read_bytes()
    with h5py.File(threaded, "r") as f:
        pulses = f["InIceDSTPulses"]
        assert pulses.id.get_num_chunks() >= 3
        # hdf5's own decoding agrees, and padding bytes (17..19 after `exists`) are zero
        for rows in _unshuffled_chunks(pulses):
            assert not rows[:, 17:20].any()
