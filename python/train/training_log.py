"""Training logs: a CSV file (one row per logged step) and TensorBoard summaries.

CSV columns: ``step, wall_time_s, learning_rate, train_loss, regularization, grad_norm,
skipped_steps, <term columns>..., validation_loss``; empty cells where a value was not computed
at that step (validation runs every ``validation_frequency`` steps). On a resume the rows after
the restored step are dropped, so the file always describes the run that the weights came from.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

__all__ = ["TrainingLog", "write_scalar_summary"]

# TensorBoard's "scalars" plugin metadata: written with the core tf.summary.write so that the
# tensorboard package is not needed to *write* logs (only to view them).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


def write_scalar_summary(tag: str, value: float, step: int) -> None:
    """One scalar into the default summary writer (a TensorBoard scalar)."""
    tf.summary.write(
        tag, tf.constant(float(value), tf.float32), step=step, metadata=_SCALAR_METADATA
    )


_BASE_COLUMNS = (
    "step",
    "wall_time_s",
    "learning_rate",
    "train_loss",
    "regularization",
    "grad_norm",
    "skipped_steps",
)


class TrainingLog:
    """CSV + TensorBoard log of one training run.

    Parameters
    ----------
    directory : path
        Where ``training_log.csv`` and the TensorBoard event files (``tensorboard/``) go.
    term_names : sequence of str
        Names of the loss terms (CSV columns ``train_<term>``).
    resume_step : int or None
        When resuming, rows with a step above this are removed from an existing CSV.
    tensorboard : bool
        Write TensorBoard summaries.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        term_names: Sequence[str],
        resume_step: int | None = None,
        tensorboard: bool = True,
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.directory / "training_log.csv"
        self.columns = (
            list(_BASE_COLUMNS)
            + [f"train_{t}" for t in term_names]
            + ["validation_loss"]
            + [f"validation_{t}" for t in term_names]
        )
        self._prepare_csv(resume_step)
        self._writer = (
            tf.summary.create_file_writer(str(self.directory / "tensorboard"))
            if tensorboard
            else None
        )

    def _prepare_csv(self, resume_step: int | None) -> None:
        rows: list[dict] = []
        if resume_step is not None and self.csv_path.exists():
            with open(self.csv_path, newline="") as handle:
                for row in csv.DictReader(handle):
                    try:
                        if int(row["step"]) <= resume_step:
                            rows.append(row)
                    except (KeyError, ValueError):
                        continue
        with open(self.csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in self.columns})

    @staticmethod
    def _cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else str(value)
        return str(value)

    def write(
        self,
        step: int,
        wall_time_s: float,
        learning_rate: float,
        train: Mapping[str, float] | None,
        skipped_steps: int,
        validation: Mapping[str, float] | None = None,
    ) -> None:
        """Append one row and the matching summaries.

        ``train`` and ``validation`` are the dicts of the train / eval step (``loss``,
        ``term/<name>``, ...), already converted to Python floats.
        """
        row: dict[str, object] = {
            "step": step,
            "wall_time_s": wall_time_s,
            "learning_rate": learning_rate,
            "skipped_steps": skipped_steps,
        }
        if train:
            row["train_loss"] = train.get("loss")
            row["regularization"] = train.get("regularization")
            row["grad_norm"] = train.get("grad_norm")
            for key, value in train.items():
                if key.startswith("term/"):
                    row[f"train_{key[5:]}"] = value
        if validation:
            row["validation_loss"] = validation.get("loss")
            for key, value in validation.items():
                if key.startswith("term/"):
                    row[f"validation_{key[5:]}"] = value
        with open(self.csv_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writerow({k: self._cell(row.get(k)) for k in self.columns})
        if self._writer is not None:
            with self._writer.as_default():
                write_scalar_summary("learning_rate", learning_rate, step)
                write_scalar_summary("skipped_steps", skipped_steps, step)
                for prefix, values in (("train", train), ("validation", validation)):
                    for key, value in (values or {}).items():
                        if value is not None and key != "applied":
                            tag = f"{prefix}/{key.replace('term/', '')}"
                            write_scalar_summary(tag, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
