"""`egenerator inspect FILE`: tables, event count and a per-event summary of an hdf5 file."""

from __future__ import annotations

import argparse
import sys

import numpy as np

HELP = "print the tables, event count and per-event summary of an hdf5 file"

PULSE_COLUMNS = ("string", "om", "time", "charge")
DEFAULT_PULSE_KEYS = ("InIceDSTPulses", "SplitInIceDSTPulses", "MCPulsesWithoutNoise")
LABEL_KEY = "LabelsDeepLearning"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `egenerator inspect`."""
    parser.add_argument("file", help="hdf5 file in IceTray hdfwriter layout")
    parser.add_argument(
        "--events",
        type=int,
        default=10,
        metavar="K",
        help="number of events to summarise one by one (default 10; 0: none)",
    )
    parser.add_argument(
        "--pulses",
        default=None,
        metavar="KEY",
        help="pulse table to summarise (default: InIceDSTPulses, else the first pulse table)",
    )


def _pulse_key(handle, requested: str | None) -> str | None:
    if requested is not None:
        handle.columns(requested)  # raises naming the file and the available tables
        return requested
    for key in DEFAULT_PULSE_KEYS:
        if handle.has_table(key):
            return key
    for key in handle.tables:
        if all(c in handle.columns(key) for c in PULSE_COLUMNS):
            return key
    return None


def _all_event_ids(handle) -> np.ndarray:
    """Unique (Run, Event, SubEvent, SubEventStream) over the indices of every table."""
    ids = [handle.event_index(name) for name in handle.tables]
    if not ids:
        return np.zeros((0, 4), dtype=np.int64)
    stacked = np.concatenate(
        [np.stack([i[c] for c in ("Run", "Event", "SubEvent", "SubEventStream")], 1) for i in ids]
    )
    return np.unique(stacked.reshape(-1, 4), axis=0)


def _pulse_summary(handle, key: str) -> dict[str, np.ndarray]:
    """Per event of ``key``'s index: pulses, DOMs hit, total charge (vectorised)."""
    from ..io import read_pulses

    series = read_pulses(handle, key, skip_icetop=False)
    num_events = series.num_events
    pulses = series.stop - series.start
    charge = np.bincount(series.pulse_event, weights=series.charge_pe, minlength=num_events)
    dom_key = series.string * 1000 + series.om
    pairs = np.unique(np.stack([series.pulse_event, dom_key], axis=1), axis=0)
    doms = np.bincount(pairs[:, 0], minlength=num_events) if pairs.size else np.zeros(num_events)
    return {"ids": series.event_ids, "pulses": pulses, "doms": doms.astype(int), "charge": charge}


def _format_row(values: list[str], widths: list[int]) -> str:
    return "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))


def run(args: argparse.Namespace) -> int:
    """Print the inspection of ``args.file``; returns 0, or 2 on a bad file."""
    from ..io import HdfFormatError, HdfwriterFile

    try:
        with HdfwriterFile(args.file) as handle:
            _print_inspection(handle, args)
    except HdfFormatError as err:
        print(f"egenerator inspect: error: {err}", file=sys.stderr)
        return 2
    return 0


def _print_inspection(handle, args: argparse.Namespace) -> None:
    print(f"file: {handle.path}")
    print(f"tables ({len(handle.tables)}):")
    width = max([len(t) for t in handle.tables] + [5])
    for name in handle.tables:
        index = handle.event_index(name)
        print(
            f"  {name.ljust(width)}  {handle.num_rows(name):>9} rows  {index.shape[0]:>7} events"
            f"  columns: {', '.join(handle.columns(name)[5:])}"
        )
    ids = _all_event_ids(handle)
    print(f"events: {ids.shape[0]}")

    key = _pulse_key(handle, args.pulses)
    if key is None:
        print("no pulse table (columns string, om, time, charge) found")
        return
    summary = _pulse_summary(handle, key)
    if summary["pulses"].size:
        print(
            f"{key}: {summary['pulses'].sum()} pulses; per event: "
            f"{summary['pulses'].mean():.1f} pulses, {summary['doms'].mean():.1f} DOMs hit, "
            f"{summary['charge'].mean():.1f} PE (median {np.median(summary['charge']):.1f} PE)"
        )
    num_shown = min(max(args.events, 0), summary["pulses"].size)
    if num_shown == 0:
        return

    labels = None
    label_names: list[str] = []
    if handle.has_table(LABEL_KEY):
        label_names = handle.columns(LABEL_KEY)[5:]
        table = handle.read_table(LABEL_KEY)
        index = handle.event_index(LABEL_KEY)
        labels = {}
        for entry in index[index["exists"] & (index["stop"] > index["start"])]:
            ident = (entry["Run"], entry["Event"], entry["SubEvent"], entry["SubEventStream"])
            labels[tuple(int(v) for v in ident)] = table[entry["start"]]

    header = ["Run", "Event", "SubEvent", "pulses", "DOMs", "charge_pe"] + label_names
    lines = []
    for k in range(num_shown):
        ident = tuple(int(v) for v in summary["ids"][k])
        values = [
            str(ident[0]),
            str(ident[1]),
            str(ident[2]),
            str(int(summary["pulses"][k])),
            str(int(summary["doms"][k])),
            f"{summary['charge'][k]:.2f}",
        ]
        if labels is not None:
            row = labels.get(ident)
            values += [f"{row[n]:.4g}" if row is not None else "-" for n in label_names]
        lines.append(values)
    widths = [max(len(header[j]), *(len(line[j]) for line in lines)) for j in range(len(header))]
    print(f"first {num_shown} event(s) of {key}:")
    print("  " + _format_row(header, widths))
    for line in lines:
        print("  " + _format_row(line, widths))
