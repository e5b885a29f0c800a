"""Failure records of cells whose training met a NaN or inf, without torch (the Snakefile imports this).

A cell whose training meets a NaN or inf (:class:`FloatingPointError`, deterministic on the CPU) leaves a failure
record ``failed.json`` beside its resume checkpoint, ``<results>/<experiment>/checkpoints/<cell>/failed.json``
(:mod:`rfpipe.layout`), with the error and the cell's settings. While the record matches the cell's current
settings, the workflow leaves that cell out of its experiment's report (which lists it as failed) instead of
training it again; delete the record, or change the settings, to retry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rfpipe.integrity import write_atomic
from rfpipe.layout import ExperimentLayout, cell_of

__all__ = ["FAILED", "cell_name", "cell_failures", "failure_record", "read_failure", "remove_failure", "settings_tag",
           "write_failure"]

FAILED = "failed.json"
"""Name of a cell's failure record, beside its checkpoint ``state.pt``."""


def cell_name(path: str | os.PathLike) -> str:
    """``<experiment>/<cell path>`` of a file inside ``<results>/<experiment>/cells/<cell path>/`` or
    ``.../checkpoints/<cell path>/``; else the file's folder."""
    where = cell_of(path)
    return "/".join(where) if where is not None else str(Path(path).parent)


def settings_tag(settings: Mapping[str, Any]) -> str:
    """The cell's settings (the flat wire form) as one string (sorted JSON), as training tags its checkpoints."""
    return json.dumps(dict(settings), sort_keys=True)

def failure_record(checkpoint: str | os.PathLike) -> Path:
    """Where the failure record of the cell whose checkpoint is ``checkpoint`` goes."""
    return Path(checkpoint).with_name(FAILED)


def write_failure(checkpoint: str | os.PathLike, cell: str, settings: Mapping[str, Any], error: BaseException) -> Path:
    """Record that ``cell`` failed with ``error`` (atomically); returns the record's path."""
    path = failure_record(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"cell": cell, "error": f"{type(error).__name__}: {error}",
                                    "settings": settings_tag(settings)}, indent=1) + "\n")
    return path


def read_failure(checkpoint: str | os.PathLike, settings: Mapping[str, Any]) -> dict[str, str] | None:
    """The failure record of a cell, if there is one for these ``settings`` (a record of other settings, or an
    unreadable one, is ignored)."""
    path = failure_record(checkpoint)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("settings") != settings_tag(settings):
        return None
    return {"cell": str(record.get("cell", "")), "error": str(record.get("error", "")), "record": str(path)}


def remove_failure(checkpoint: str | os.PathLike) -> None:
    """Forget a cell's failure (a new attempt starts)."""
    failure_record(checkpoint).unlink(missing_ok=True)


def cell_failures(experiment_dir: str | os.PathLike, cells: dict[str, Any],
                 teachers: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Cell path -> failure record, for the ``cells`` (path -> :class:`rfpipe.sweep.Cell`) of the experiment
    in ``experiment_dir`` that have one matching their current settings. A cell whose teacher (``teachers``: cell
    path -> the path of the cell whose flow makes its data, :meth:`rfpipe.sweep.Experiment.teachers`) failed has
    failed too: its record is the teacher's."""
    out = {}
    for path, cell in cells.items():
        record = read_failure(ExperimentLayout(Path(experiment_dir)).checkpoint(path), cell.settings)
        if record is not None:
            out[path] = record
    for path, teacher in (teachers or {}).items():
        if teacher in out and path not in out:
            out[path] = {**out[teacher], "error": f"its teacher cell {teacher} failed: {out[teacher]['error']}"}
    return out
