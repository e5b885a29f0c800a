"""Reports: aggregation over a sweep into tables (with verdicts per claim) and seaborn figures.

Each experiment kind's report is its ``report`` module (``rfpipe.kinds.<kind>.report``: tables, figures, the
verdict rule of its claims and its rows of the paper table); :func:`report` runs the one of an experiment's
kind. Shared here: reading a sweep and writing tables and figures (:mod:`rfpipe.reporting.common`), the one
three-outcome verdict rule (:mod:`rfpipe.reporting.verdict`), the numbers reported for the paper
(:mod:`rfpipe.reporting.reference`) and the paper table (:mod:`rfpipe.reporting.paper`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rfpipe import kinds
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.common import failed_cells, mark_failed_cells, markdown_table, mean_ci, read_cells, summarise
from rfpipe.reporting.paper import paper_table, write_paper_table
from rfpipe.sweep import Experiment, expand_experiment

__all__ = ["markdown_table", "mean_ci", "paper_table", "read_cells", "report", "report_job", "summarise",
           "write_paper_table"]


def report(experiment: Experiment, experiment_dir: str | os.PathLike) -> None:
    """Write the tables and figures of ``experiment`` (a :class:`rfpipe.sweep.Experiment`) whose outputs are
    in ``experiment_dir`` (``<results>/<name>``), with the report of its kind.

    Cells whose training failed on a NaN or inf (:mod:`rfpipe.failures`) have no outputs: the others are
    reported, then the failed ones listed (``tables/failed_cells.{csv,md}`` and a closing section).
    """
    layout = ExperimentLayout(Path(experiment_dir))
    failed = failed_cells(experiment, layout.root)
    live = dataclasses.replace(experiment, cells={p: c for p, c in experiment.cells.items()
                                                  if p not in set(failed["cell"])})
    since = time.time() - 1.0  # file times may be coarser than time.time()
    kinds.get(experiment.kind).function("report", "report")(live, layout)
    mark_failed_cells(failed, layout.tables, since)


def report_job(name: str, settings: Mapping[str, Any], experiment_dir: str | os.PathLike,
               log: str | None = None) -> None:
    """:func:`report` as a job: the experiment ``name`` expanded from the rule's params (its fixed settings,
    the report's included, and ``grid``)."""
    from rfpipe.pipeline import log_to

    with log_to(log):
        report(expand_experiment(name, dict(settings)), experiment_dir)
