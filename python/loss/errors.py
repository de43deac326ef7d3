"""Errors of the loss package."""

from __future__ import annotations


class LossConfigError(ValueError):
    """A loss-module setting is invalid; the message names its key path, value and valid values."""


class LossInputError(ValueError):
    """A batch or result dictionary handed to a likelihood term lacks a key or is malformed."""
