"""Errors of the event loader."""

from __future__ import annotations


class EventDataError(ValueError):
    """An input file's content cannot be turned into events.

    The message names the file, the table and, where it applies, the column, row and event id.
    """


def format_event_id(event_id) -> str:
    """``(Run, Event, SubEvent, SubEventStream)`` of one event as text."""
    run, event, sub_event, stream = (int(v) for v in event_id)
    return f"(Run={run}, Event={event}, SubEvent={sub_event}, SubEventStream={stream})"
