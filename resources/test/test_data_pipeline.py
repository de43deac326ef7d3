"""Batch streams and tf.data: order, shuffling, repetitions, determinism, shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from egenerator.data.batch import EventBatch
from egenerator.data.loader import load_events
from egenerator.data.pipeline import (
    READER_THREAD_PREFIX,
    DataPipeline,
    DataPipelineError,
    batch_to_numpy,
    iterate_batches,
    make_dataset,
)
from test_data_loader import PARAMS, base_settings, write_random_file

NUM_FILES = 4
EVENTS_PER_FILE = 12


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_detector):
    directory = tmp_path_factory.mktemp("pipeline")
    for k in range(NUM_FILES):
        write_random_file(
            directory / f"file_{k}.hdf5", small_detector, 100 + k, EVENTS_PER_FILE, run=k + 1
        )
    return sorted(str(p) for p in directory.glob("*.hdf5")), str(directory / "*.hdf5")


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(READER_THREAD_PREFIX)]


def _wait_no_reader_threads(timeout_s: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + timeout_s
    while _reader_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _reader_threads()


def _event_keys(batches) -> list[tuple]:
    return [tuple(row) for b in batches for row in b.event_id.tolist()]


def _assert_same_batch(a: EventBatch, b: EventBatch) -> None:
    for key, value in a.as_dict().items():
        np.testing.assert_array_equal(value, getattr(b, key), err_msg=key)


@pytest.mark.parametrize("events_per_read", [None, 5])
def test_sequential_stream_equals_loading_all_files(files, small_detector, events_per_read):
    paths, pattern = files
    settings = base_settings()
    everything = load_events(paths, settings, PARAMS, small_detector)
    with iterate_batches(
        pattern, settings, PARAMS, small_detector, batch_size=10, events_per_read=events_per_read
    ) as stream:
        batches = list(stream)
    sizes = [b.num_events for b in batches]
    assert sizes == [10] * 4 + [8]
    _assert_same_batch(EventBatch.concatenate(batches), everything)
    with iterate_batches(
        pattern, settings, PARAMS, small_detector, batch_size=10, drop_remainder=True
    ) as stream:
        assert [b.num_events for b in stream] == [10] * 4


def test_shuffled_stream_uses_every_event_num_repetitions_times(files, small_detector):
    paths, pattern = files
    settings = base_settings()
    everything = load_events(paths, settings, PARAMS, small_detector)
    kwargs = dict(batch_size=7, seed=3, num_repetitions=3, shuffle_buffer=20, sample_randomly=True)
    with iterate_batches(pattern, settings, PARAMS, small_detector, **kwargs) as stream:
        batches = list(stream)
    keys = _event_keys(batches)
    expected = _event_keys([everything]) * 3
    assert sorted(keys) == sorted(expected)
    assert keys != expected  # shuffled
    # each batch is internally consistent with the events it claims to hold
    lookup = {tuple(k): i for i, k in enumerate(everything.event_id.tolist())}
    for batch in batches[:5]:
        rows = [lookup[tuple(k)] for k in batch.event_id.tolist()]
        single = [everything.select(np.array([r])) for r in rows]
        _assert_same_batch(batch, EventBatch.concatenate(single))


def test_deterministic_for_a_seed_and_independent_of_num_jobs(files, small_detector):
    _, pattern = files
    settings = base_settings()

    def run(seed, num_jobs):
        with iterate_batches(
            pattern,
            settings,
            PARAMS,
            small_detector,
            batch_size=8,
            seed=seed,
            shuffle_buffer=16,
            sample_randomly=True,
            pick_random_files_forever=True,
            num_jobs=num_jobs,
        ) as stream:
            return [next(stream) for _ in range(9)]

    first = run(11, 1)
    for a, b in zip(first, run(11, 2), strict=True):
        _assert_same_batch(a, b)
    assert _event_keys(first) != _event_keys(run(12, 1))
    assert _wait_no_reader_threads() == []


def test_tf_dataset_matches_stream_and_dtypes(files, small_detector):
    import tensorflow as tf

    _, pattern = files
    settings = base_settings()
    kwargs = dict(batch_size=16, seed=5, shuffle_buffer=30, sample_randomly=True)
    with iterate_batches(pattern, settings, PARAMS, small_detector, **kwargs) as stream:
        expected = [batch_to_numpy(b) for b in stream]
    dataset = make_dataset(pattern, settings, PARAMS, small_detector, num_jobs=2, **kwargs)
    got = list(dataset)
    assert len(got) == len(expected)
    for tensors, arrays in zip(got, expected, strict=True):
        assert set(tensors) == set(arrays)
        for key, value in arrays.items():
            assert tensors[key].dtype == tf.as_dtype(value.dtype), key
            np.testing.assert_array_equal(tensors[key].numpy(), value, err_msg=key)
    assert got[0]["parameters"].dtype == tf.float32
    assert got[0]["pulse_dom"].dtype == tf.int32
    assert got[0]["dom_charge"].shape[1] == small_detector.num_doms
    # a second pass over the same dataset starts again from the seed
    again = next(iter(dataset))
    np.testing.assert_array_equal(again["pulse_time_ns"].numpy(), expected[0]["pulse_time_ns"])


def test_clean_shutdown_no_leaked_threads(files, small_detector):
    _, pattern = files
    settings = base_settings()
    baseline = {t.ident for t in threading.enumerate()}
    # an endless stream closed in the middle
    stream = iterate_batches(
        pattern,
        settings,
        PARAMS,
        small_detector,
        batch_size=4,
        pick_random_files_forever=True,
        num_jobs=2,
        files_ahead=2,
    )
    for _ in range(5):
        next(stream)
    assert len(_reader_threads()) >= 1
    stream.close()
    assert _reader_threads() == []
    with pytest.raises(StopIteration):
        next(stream)
    # an endless tf.data pipeline: closing the pipeline joins the reader threads
    with DataPipeline(
        pattern,
        settings,
        PARAMS,
        small_detector,
        batch_size=4,
        pick_random_files_forever=True,
        sample_randomly=True,
        shuffle_buffer=8,
        num_jobs=2,
    ) as pipeline:
        iterator = iter(pipeline.dataset())
        for _ in range(5):
            next(iterator)
        assert len(_reader_threads()) >= 1
    assert _wait_no_reader_threads() == []
    del iterator
    # releasing the iterator of an endless make_dataset also stops its readers
    iterator = iter(
        make_dataset(
            pattern, settings, PARAMS, small_detector, pick_random_files_forever=True, num_jobs=2
        )
    )
    next(iterator)
    del iterator
    import gc

    gc.collect()
    assert _wait_no_reader_threads() == []
    leaked = [
        t
        for t in threading.enumerate()
        if t.ident not in baseline and not isinstance(t, threading._DummyThread)
    ]
    assert leaked == []


def test_bad_patterns_and_sizes(files, small_detector, tmp_path):
    _, pattern = files
    with pytest.raises(DataPipelineError, match="matches no file"):
        iterate_batches(str(tmp_path / "none*.hdf5"), base_settings(), PARAMS, small_detector)
    with pytest.raises(DataPipelineError, match="batch_size"):
        iterate_batches(pattern, base_settings(), PARAMS, small_detector, batch_size=0)


def test_pipeline_from_config(files, small_detector, tmp_path):
    from egenerator.config import load_config
    from egenerator.data.pipeline import pipeline_from_config

    _, pattern = files
    config = load_config(
        {
            "unique_name": "t",
            "data_handler_settings": base_settings(),
            "data_iterator_settings": {
                "test": {"input_data": [pattern], "batch_size": 5, "num_jobs": 2}
            },
        }
    )
    with pipeline_from_config(config, "test", PARAMS, small_detector) as pipeline:
        with pipeline.stream() as stream:
            sizes = [b.num_events for b in stream]
    assert sum(sizes) == NUM_FILES * EVENTS_PER_FILE and sizes[0] == 5
    with pytest.raises(DataPipelineError, match="data_iterator_settings.training.input_data"):
        pipeline_from_config(config, "training", PARAMS, small_detector)
