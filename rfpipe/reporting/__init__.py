"""Reports: aggregation over a sweep into tables (with verdicts per claim) and seaborn figures.

One module per experiment kind (:mod:`rfpipe.reporting.rotation`, :mod:`~rfpipe.reporting.gaussian`,
:mod:`~rfpipe.reporting.mog`, :mod:`~rfpipe.reporting.reflow`, :mod:`~rfpipe.reporting.images`) on shared helpers
(:mod:`rfpipe.reporting.common`); :func:`report` picks the one of an experiment's kind.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from rfpipe.reporting.common import failed_cells, mark_failed_cells, markdown_table, mean_ci, read_cells, summarise
from rfpipe.reporting.gaussian import gaussian_verdicts, report_gaussian
from rfpipe.reporting.images import c6_c7_verdicts, report_images
from rfpipe.reporting.mog import c5_verdicts, report_mog
from rfpipe.reporting.paper import paper_rows, paper_table, write_paper_table
from rfpipe.reporting.reflow import c8_verdicts, report_reflow
from rfpipe.reporting.rotation import c4_verdicts, report_rotation
from rfpipe.sweep import Experiment

__all__ = ["report", "c4_verdicts", "c5_verdicts", "c6_c7_verdicts", "c8_verdicts", "gaussian_verdicts", "markdown_table", "mean_ci",
           "paper_rows", "paper_table", "read_cells", "report_gaussian", "report_images", "report_mog", "report_reflow",
           "report_rotation", "summarise", "write_paper_table"]


def report(experiment: Experiment, experiment_dir: str | os.PathLike) -> None:
    """Write the tables and figures of ``experiment`` (a :class:`rfpipe.sweep.Experiment`) whose outputs are
    in ``experiment_dir`` (``<results>/<name>``), with the report of its kind."""
    root = Path(experiment_dir)
    tables, figures = root / "tables", root / "figures"
    if experiment.kind == "gaussian_variance":
        report_gaussian(experiment, root / "variance.parquet", tables, figures)
        return
    # Cells whose training failed on a NaN or inf have no outputs: report the others, then list the failed ones.
    failed = failed_cells(experiment, root)
    live = dataclasses.replace(experiment, cells={p: c for p, c in experiment.cells.items()
                                                  if p not in set(failed["cell"])})
    since = time.time() - 1.0  # file times may be coarser than time.time()
    by_kind = {"rotation": report_rotation, "mog": report_mog, "reflow": report_reflow, "images": report_images}
    by_kind[experiment.kind](live, root / "cells", tables, figures)
    mark_failed_cells(failed, tables, since)
