"""Streams of batches from hdfwriter files: parallel reading, shuffling, repetitions, tf.data.

One engine (:class:`BatchStream`) serves both consumers:

- :func:`iterate_batches` yields :class:`EventBatch` objects (reconstruction, trafo, tests);
- :func:`make_dataset` wraps the same stream in a ``tf.data.Dataset`` of tensor dicts with the
  keys and dtypes of resources/docs/internals.md (prefetched).

Order is deterministic for a given seed: files are read by ``num_jobs`` threads but consumed
in submission order, and every random choice comes from two ``numpy.random.Generator``
objects (file order, event shuffle) used only by the consuming thread.

Semantics: the file sequence is one pass over the files (shuffled with ``sample_randomly``)
or, with ``pick_random_files_forever``, files drawn with replacement without end. The events of
each loaded file enter the event buffer ``num_repetitions`` times. With ``sample_randomly``
batches are drawn at random from a buffer of at least ``shuffle_buffer`` events (like
``tf.data.Dataset.shuffle``); otherwise events leave in file order. The last, partial batch is
emitted unless ``drop_remainder``. Files are read in pieces of ``events_per_read`` events
(one read task each), so memory does not grow with the file size.
"""

from __future__ import annotations

import glob
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor

import numpy as np

from ..detector import DetectorTable
from .batch import EventBatch
from .loader import EventFileReader, LoadedEvents, LoadStats
from .settings import DataHandlerSettings

READER_THREAD_PREFIX = "egenerator-reader"

_INDEX_KEYS = ("pulse_event", "pulse_dom", "window_event", "window_dom")
_FLOAT64_KEYS = (
    "pulse_charge_pe",
    "pulse_time_ns",
    "dom_charge",
    "time_window_ns",
    "window_exclusions_ns",
    "weights",
)


class DataPipelineError(ValueError):
    """Bad pipeline arguments (no files match a pattern, invalid sizes)."""


def expand_file_patterns(
    file_patterns: str | os.PathLike | Sequence[str | os.PathLike],
) -> list[str]:
    """Sorted files of every glob pattern (in pattern order, duplicates removed).

    Raises
    ------
    DataPipelineError
        A pattern matches no file.
    """
    if isinstance(file_patterns, str | os.PathLike):
        file_patterns = [file_patterns]
    files: list[str] = []
    for pattern in file_patterns:
        pattern = os.fspath(pattern)
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise DataPipelineError(f"input_data pattern '{pattern}' matches no file")
        files.extend(matches)
    if not files:
        raise DataPipelineError("input_data: no file patterns given")
    return list(dict.fromkeys(files))


def batch_to_numpy(batch: EventBatch, include_event_id: bool = False) -> dict[str, np.ndarray]:
    """The tensor dict of internals.md as numpy arrays (dtypes already converted)."""
    out = {
        "parameters": np.asarray(batch.parameters, dtype=np.float32),
        "dom_valid": np.asarray(batch.dom_valid, dtype=bool),
    }
    for key in _INDEX_KEYS:
        out[key] = np.asarray(getattr(batch, key), dtype=np.int32)
    for key in _FLOAT64_KEYS:
        out[key] = np.asarray(getattr(batch, key), dtype=np.float64)
    if include_event_id:
        out["event_id"] = np.asarray(batch.event_id, dtype=np.int64)
    return out


class BatchStream:
    """Iterator of EventBatch objects read from files (see the module docstring).

    Use it as a context manager or call :meth:`close`; closing stops the reader threads and
    waits for them. Iterating it twice continues the same stream.
    """

    def __init__(
        self,
        files: Sequence[str],
        reader: EventFileReader,
        batch_size: int,
        seed: int = 0,
        num_repetitions: int = 1,
        shuffle_buffer: int = 0,
        sample_randomly: bool = False,
        pick_random_files_forever: bool = False,
        num_jobs: int = 1,
        files_ahead: int = 1,
        drop_remainder: bool = False,
        events_per_read: int | None = 1000,
    ) -> None:
        if batch_size < 1 or num_repetitions < 1 or num_jobs < 1 or shuffle_buffer < 0:
            raise DataPipelineError(
                f"batch_size ({batch_size}), num_repetitions ({num_repetitions}) and num_jobs "
                f"({num_jobs}) must be >= 1 and shuffle_buffer ({shuffle_buffer}) >= 0"
            )
        if not files:
            raise DataPipelineError("no input files")
        self.files = list(files)
        self.reader = reader
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_repetitions = int(num_repetitions)
        self.shuffle_buffer = int(shuffle_buffer) if sample_randomly else 0
        self.sample_randomly = bool(sample_randomly)
        self.forever = bool(pick_random_files_forever)
        self.num_jobs = int(num_jobs)
        self.files_ahead = max(int(files_ahead), 0)
        self.drop_remainder = bool(drop_remainder)
        if events_per_read is not None and events_per_read < 1:
            raise DataPipelineError(f"events_per_read must be >= 1, got {events_per_read}")
        self.events_per_read = events_per_read
        self._event_counts: dict[str, int] = {}
        self.stats = LoadStats()
        self._closed = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._generator = self._generate()

    # ------------------------------------------------------------------ protocol
    def __iter__(self) -> Iterator[EventBatch]:
        return self

    def __next__(self) -> EventBatch:
        if self._closed.is_set():
            raise StopIteration
        return next(self._generator)

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def close(self) -> None:
        """Stop reading, join the reader threads (idempotent, callable from any thread)."""
        self._closed.set()
        try:
            self._generator.close()
        except ValueError:  # running in another thread: it stops at its next step
            pass
        self._shutdown()

    def _shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ engine
    def _file_sequence(self, rng: np.random.Generator) -> Iterator[str]:
        if self.forever:
            while True:
                yield self.files[int(rng.integers(len(self.files)))]
        order = rng.permutation(len(self.files)) if self.sample_randomly else range(len(self.files))
        for k in order:
            yield self.files[int(k)]

    def _pieces(self, files: Iterator[str]) -> Iterator[tuple[str, int, int | None]]:
        """(path, first event, number of events) of every read, files cut into pieces."""
        for path in files:
            if self.events_per_read is None:
                yield path, 0, None
                continue
            if path not in self._event_counts:
                self._event_counts[path] = self.reader.count_events(path)
            total = self._event_counts[path]
            for first in range(0, max(total, 1), self.events_per_read):
                yield path, first, self.events_per_read

    def _loaded_chunks(self, rng: np.random.Generator) -> Iterator[LoadedEvents]:
        self._executor = ThreadPoolExecutor(
            max_workers=self.num_jobs, thread_name_prefix=READER_THREAD_PREFIX
        )
        pending: deque = deque()
        pieces = self._pieces(self._file_sequence(rng))
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.num_jobs + self.files_ahead:
                piece = next(pieces, None)
                if piece is None:
                    exhausted = True
                    break
                pending.append(self._executor.submit(self.reader.read, *piece))
            if not pending or self._closed.is_set():
                return
            try:
                loaded = pending.popleft().result()
            except CancelledError:  # closed from another thread
                return
            self.stats.add(loaded.stats)
            yield loaded

    def _generate(self) -> Iterator[EventBatch]:
        # separate streams for the file order and the event shuffle: the number of files read
        # ahead (num_jobs) must not change which random numbers the shuffle gets
        file_seed, shuffle_seed = np.random.SeedSequence(self.seed).spawn(2)
        rng = np.random.default_rng(shuffle_seed)
        chunks: dict[int, LoadedEvents] = {}
        remaining: dict[int, int] = {}
        buf_chunk = np.zeros(0, dtype=np.int64)
        buf_event = np.zeros(0, dtype=np.int64)
        threshold = max(self.shuffle_buffer, self.batch_size)
        try:
            for chunk_id, loaded in enumerate(
                self._loaded_chunks(np.random.default_rng(file_seed))
            ):
                n = loaded.num_events
                if n == 0:
                    continue
                chunks[chunk_id] = loaded
                remaining[chunk_id] = n * self.num_repetitions
                buf_chunk = np.concatenate([buf_chunk, np.full(n * self.num_repetitions, chunk_id)])
                buf_event = np.concatenate([buf_event, np.tile(np.arange(n), self.num_repetitions)])
                while len(buf_chunk) >= threshold:
                    buf_chunk, buf_event, batch = self._emit(
                        rng, buf_chunk, buf_event, chunks, remaining
                    )
                    yield batch
                    if self._closed.is_set():
                        return
            if self.sample_randomly and len(buf_chunk):
                order = rng.permutation(len(buf_chunk))
                buf_chunk, buf_event = buf_chunk[order], buf_event[order]
            while len(buf_chunk) and not self._closed.is_set():
                if len(buf_chunk) < self.batch_size and self.drop_remainder:
                    break
                take = min(self.batch_size, len(buf_chunk))
                batch = self._assemble(buf_chunk[:take], buf_event[:take], chunks, remaining)
                buf_chunk, buf_event = buf_chunk[take:], buf_event[take:]
                yield batch
        finally:
            self._shutdown()

    def _emit(self, rng, buf_chunk, buf_event, chunks, remaining):
        if self.sample_randomly:
            picked = rng.choice(len(buf_chunk), size=self.batch_size, replace=False)
        else:
            picked = np.arange(self.batch_size)
        batch = self._assemble(buf_chunk[picked], buf_event[picked], chunks, remaining)
        keep = np.ones(len(buf_chunk), dtype=bool)
        keep[picked] = False
        return buf_chunk[keep], buf_event[keep], batch

    @staticmethod
    def _assemble(chunk_ids, event_idx, chunks, remaining) -> EventBatch:
        """Gather events (grouped by source chunk, in order of first appearance)."""
        _, first = np.unique(chunk_ids, return_index=True)
        parts = []
        for chunk_id in chunk_ids[np.sort(first)]:
            chunk_id = int(chunk_id)
            mine = chunk_ids == chunk_id
            parts.append(chunks[chunk_id].take(event_idx[mine]))
            remaining[chunk_id] -= int(mine.sum())
            if remaining[chunk_id] == 0:
                del chunks[chunk_id], remaining[chunk_id]
        return parts[0] if len(parts) == 1 else EventBatch.concatenate(parts)


class DataPipeline:
    """Files + settings -> streams of batches; owns (and closes) every stream it starts.

    Parameters
    ----------
    file_patterns : glob pattern(s)
    settings : mapping or DataHandlerSettings
        The config's ``data_handler_settings``.
    parameter_names : sequence of str
    detector : DetectorTable
    batch_size, seed, num_repetitions, shuffle_buffer, sample_randomly,
    pick_random_files_forever, num_jobs, files_ahead, drop_remainder
        See the module docstring.
    events_per_read : int or None
        Files are read in pieces of this many events (bounds memory: a piece holds
        [events, DOMs] arrays); None reads whole files.
    prefetch : int
        Batches the tf.data pipeline prepares ahead.
    """

    def __init__(
        self,
        file_patterns: str | Sequence[str],
        settings: Mapping | DataHandlerSettings,
        parameter_names: Sequence[str],
        detector: DetectorTable,
        batch_size: int = 32,
        seed: int = 0,
        num_repetitions: int = 1,
        shuffle_buffer: int = 0,
        sample_randomly: bool = False,
        pick_random_files_forever: bool = False,
        num_jobs: int = 1,
        files_ahead: int = 1,
        drop_remainder: bool = False,
        prefetch: int = 2,
        events_per_read: int | None = 1000,
    ) -> None:
        self.files = expand_file_patterns(file_patterns)
        self.reader = EventFileReader(settings, parameter_names, detector)
        self.parameter_names = tuple(parameter_names)
        self.detector = detector
        self.prefetch = int(prefetch)
        self._stream_kwargs = dict(
            batch_size=batch_size,
            seed=seed,
            num_repetitions=num_repetitions,
            shuffle_buffer=shuffle_buffer,
            sample_randomly=sample_randomly,
            pick_random_files_forever=pick_random_files_forever,
            num_jobs=num_jobs,
            files_ahead=files_ahead,
            drop_remainder=drop_remainder,
            events_per_read=events_per_read,
        )
        self._streams: weakref.WeakSet[BatchStream] = weakref.WeakSet()

    def __enter__(self) -> DataPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stream(self) -> BatchStream:
        """A new stream of EventBatch objects (starts from the seed)."""
        stream = BatchStream(self.files, self.reader, **self._stream_kwargs)
        self._streams.add(stream)
        return stream

    def dataset(self, include_event_id: bool = False):
        """A ``tf.data.Dataset`` of tensor dicts (internals.md keys/dtypes), prefetched.

        Every iteration of the dataset starts a new stream from the seed.
        """
        import tensorflow as tf

        from .tensors import tensor_signature

        signature = tensor_signature(self.detector.num_doms, len(self.parameter_names))
        if include_event_id:
            signature["event_id"] = tf.TensorSpec([None, 4], tf.int64)

        def generate():
            with self.stream() as stream:
                for batch in stream:
                    yield batch_to_numpy(batch, include_event_id)

        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.prefetch(self.prefetch)

    def close(self) -> None:
        """Close every stream this pipeline started (joins their reader threads)."""
        for stream in list(self._streams):
            stream.close()


def _pipeline(file_patterns, settings, parameter_names, detector, **kwargs) -> DataPipeline:
    return DataPipeline(file_patterns, settings, parameter_names, detector, **kwargs)


def iterate_batches(
    file_patterns: str | Sequence[str],
    settings: Mapping | DataHandlerSettings,
    parameter_names: Sequence[str],
    detector: DetectorTable,
    batch_size: int = 32,
    seed: int = 0,
    num_repetitions: int = 1,
    shuffle_buffer: int = 0,
    sample_randomly: bool = False,
    pick_random_files_forever: bool = False,
    num_jobs: int = 1,
    files_ahead: int = 1,
    drop_remainder: bool = False,
    events_per_read: int | None = 1000,
) -> BatchStream:
    """A :class:`BatchStream` of EventBatch objects (close it, or use ``with``).

    Defaults read every file once, in order, without shuffling (what reconstruction wants).
    """
    return _pipeline(
        file_patterns,
        settings,
        parameter_names,
        detector,
        batch_size=batch_size,
        seed=seed,
        num_repetitions=num_repetitions,
        shuffle_buffer=shuffle_buffer,
        sample_randomly=sample_randomly,
        pick_random_files_forever=pick_random_files_forever,
        num_jobs=num_jobs,
        files_ahead=files_ahead,
        drop_remainder=drop_remainder,
        events_per_read=events_per_read,
    ).stream()


def make_dataset(
    file_patterns: str | Sequence[str],
    settings: Mapping | DataHandlerSettings,
    parameter_names: Sequence[str],
    detector: DetectorTable,
    batch_size: int = 32,
    seed: int = 0,
    num_repetitions: int = 1,
    shuffle_buffer: int = 1000,
    num_jobs: int = 1,
    sample_randomly: bool = True,
    pick_random_files_forever: bool = False,
    files_ahead: int = 1,
    drop_remainder: bool = False,
    prefetch: int = 2,
    include_event_id: bool = False,
    events_per_read: int | None = 1000,
):
    """A prefetched ``tf.data.Dataset`` of batches (dicts of tensors, internals.md).

    Reader threads stop when the dataset's iterator is released (or the stream ends). For
    explicit control over shutdown, build a :class:`DataPipeline` and call its ``close()``.
    """
    pipeline = _pipeline(
        file_patterns,
        settings,
        parameter_names,
        detector,
        batch_size=batch_size,
        seed=seed,
        num_repetitions=num_repetitions,
        shuffle_buffer=shuffle_buffer,
        sample_randomly=sample_randomly,
        pick_random_files_forever=pick_random_files_forever,
        num_jobs=num_jobs,
        files_ahead=files_ahead,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
        events_per_read=events_per_read,
    )
    return pipeline.dataset(include_event_id=include_event_id)


def pipeline_from_config(
    config: Mapping,
    iterator: str,
    parameter_names: Sequence[str],
    detector: DetectorTable,
    seed: int | None = None,
    drop_remainder: bool = False,
) -> DataPipeline:
    """The :class:`DataPipeline` of ``data_iterator_settings[iterator]`` of a resolved config.

    ``seed`` defaults to the config's ``seed``.
    """
    settings = config["data_iterator_settings"][iterator]
    if not settings["input_data"]:
        raise DataPipelineError(
            f"data_iterator_settings.{iterator}.input_data: no input files configured"
        )
    return DataPipeline(
        settings["input_data"],
        config["data_handler_settings"],
        parameter_names,
        detector,
        batch_size=settings["batch_size"],
        seed=config.get("seed", 0) if seed is None else seed,
        num_repetitions=settings["num_repetitions"],
        shuffle_buffer=settings["event_capacity"],
        sample_randomly=settings["sample_randomly"],
        pick_random_files_forever=settings["pick_random_files_forever"],
        num_jobs=settings["num_jobs"],
        files_ahead=settings["dataset_capacity"],
        drop_remainder=drop_remainder,
        prefetch=settings["batch_capacity"],
    )
