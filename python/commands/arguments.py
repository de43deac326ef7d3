"""Argument types shared by the command-line tools (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse


def _bounded_int(text: str, minimum: int, what: str = "an integer") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts, batch sizes)."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (optional counts, where 0 switches something off)."""
    return _bounded_int(text, 0)


def random_seed(text: str) -> int:
    """A random seed: an integer >= 0."""
    return _bounded_int(text, 0, "an integer seed")
