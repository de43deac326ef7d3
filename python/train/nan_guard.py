"""Count training steps skipped for a non-finite loss or gradient; stop after too many in a row."""

from __future__ import annotations

__all__ = ["NanGuard", "TrainingDivergedError"]


class TrainingDivergedError(RuntimeError):
    """Too many consecutive steps had a non-finite loss or gradient."""


class NanGuard:
    """Bookkeeping of skipped steps.

    Parameters
    ----------
    max_consecutive : int
        Raise :class:`TrainingDivergedError` when this many steps in a row were skipped
        (``training_settings.max_consecutive_nan_steps``, default 10).
    """

    def __init__(self, max_consecutive: int = 10, total_skipped: int = 0):
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive_nan_steps must be >= 1, got {max_consecutive}")
        self.max_consecutive = int(max_consecutive)
        self.total_skipped = int(total_skipped)
        self.consecutive = 0

    def record(self, step: int, applied: bool, loss: float) -> None:
        """Note the outcome of ``step``; raise after ``max_consecutive`` skips in a row."""
        if applied:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.total_skipped += 1
        if self.consecutive >= self.max_consecutive:
            raise TrainingDivergedError(
                f"training stopped at step {step}: {self.consecutive} consecutive steps had a "
                f"non-finite loss or gradient (last loss {loss!r}; {self.total_skipped} skipped "
                "in total). Lower the learning rate, set training_settings.clip_gradients_value, "
                "check the input data for NaN/inf, or raise "
                "training_settings.max_consecutive_nan_steps. The last good checkpoint is "
                "unchanged."
            )
