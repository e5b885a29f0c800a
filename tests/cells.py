"""Test helpers: a cell's jobs called with its settings in the wire form (the flat dict of a rule's params), typed
once here as the workflow types them (:func:`rfpipe.pipeline.cell_settings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rfpipe import kinds
from rfpipe.pipeline import cell_settings, train_cell

__all__ = ["evaluate_cell", "prepare_data", "train_cell_from"]


def prepare_data(settings: Mapping[str, Any], data: str | os.PathLike, **inputs: Any) -> None:
    """The kind's ``jobs.prepare_data`` on the data part of a cell's settings."""
    typed = cell_settings(settings)
    kinds.get(typed.kind).function("jobs", "prepare_data")(typed.data, data, **inputs)


def train_cell_from(settings: Mapping[str, Any], data: str | os.PathLike, model: str | os.PathLike,
                    gradvar: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
                    convergence: str | os.PathLike | None = None) -> Any:
    """:func:`rfpipe.pipeline.train_cell` on a cell's wire settings (the convergence record beside ``gradvar``
    unless given)."""
    convergence = convergence if convergence is not None else os.path.join(os.path.dirname(gradvar),
                                                                           "convergence.parquet")
    return train_cell(cell_settings(settings), data, model, gradvar, convergence, checkpoint=checkpoint)


def evaluate_cell(settings: Mapping[str, Any], data: str | os.PathLike, model: str | os.PathLike,
                  *outputs: str | os.PathLike) -> None:
    """The kind's ``jobs.evaluate`` on a cell's wire settings."""
    typed = cell_settings(settings)
    kinds.get(typed.kind).function("jobs", "evaluate")(typed, data, model, *outputs)
