"""The results folder: every path of a run is built here and nowhere else.

    <results>/
        <experiment>/
            data/<data path>/data.pt                  prepared data (rotation and mog pairs, image pairings)
            cells/<cell path>/<file>                  one cell's outputs (model.pt, gradvar.parquet, ...)
            checkpoints/<cell path>/state.pt          resume state while a cell runs (not a rule output)
            checkpoints/<cell path>/failed.json       the failure record of a cell stopped by a NaN or inf
            <file>                                    an experiment's own outputs (variance.parquet)
            chunks/<stem>.<i>-of-<n>.<ext>            the part of one that a chunk job computes
            tables/<name>.{csv,md}, figures/<name>.png  its report
            logs/<stage>/<name>.log, logs/report.log, logs/slurm/<cell>/   job logs
            benchmarks/<stage>/<name>.tsv             Snakemake's per-job runtime and memory
            .verified.json                            files that passed a whole check (rfpipe.integrity)
        datasets/<dataset>/resolution=<r>/images.pt   decoded images, shared by every experiment
        tables/paper_results.{csv,md,tex,json}        the paper table
        report/<experiment>/<table>.html, report/paper_results.html, report/config.html   report pages
        logs/<name>.log                               the run-wide jobs' logs

Cell and data paths are hive paths (``coupling=rotated/sigma=0.0/seed=0``, :mod:`rfpipe.sweep`). The same
methods build Snakemake patterns when given wildcards (``experiment="{experiment}"``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CELLS", "CHECKPOINTS", "DATA", "ExperimentLayout", "Layout"]

CELLS = "cells"
"""Folder of an experiment's cell outputs."""
CHECKPOINTS = "checkpoints"
"""Folder of an experiment's resume checkpoints and failure records (outside every rule's outputs)."""
DATA = "data"
"""Folder of an experiment's prepared data."""


@dataclass(frozen=True)
class ExperimentLayout:
    """The folder of one experiment, ``<results>/<experiment>``."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def cells(self) -> Path:
        return self.root / CELLS

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def data(self, data_path: str) -> Path:
        """The prepared data file at hive ``data_path``."""
        return self.root / DATA / data_path / "data.pt"

    def cell(self, cell_path: str, filename: str) -> Path:
        """``filename`` in the folder of the cell at hive ``cell_path``."""
        return self.cells / cell_path / filename

    def checkpoint(self, cell_path: str) -> Path:
        """The resume checkpoint of a cell (its failure record goes beside it)."""
        return self.root / CHECKPOINTS / cell_path / "state.pt"

    def file(self, filename: str) -> Path:
        """An experiment-wide output (``variance.parquet``)."""
        return self.root / filename

    def chunk(self, filename: str, chunk: str) -> Path:
        """The part of the experiment-wide output ``filename`` that job ``chunk`` (``<i>-of-<n>``) computes."""
        stem, _, suffix = filename.partition(".")
        return self.root / "chunks" / f"{stem}.{chunk}.{suffix}"

    def table(self, name: str, ext: str = "csv") -> Path:
        return self.tables / f"{name}.{ext}"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    def log(self, stage: str, name: str | None = None) -> Path:
        """The log of a job: ``logs/<stage>/<name>.log``, or ``logs/<stage>.log`` for one job per experiment."""
        return self.root / "logs" / (f"{stage}/{name}.log" if name is not None else f"{stage}.log")

    def benchmark(self, stage: str, name: str | None = None) -> Path:
        return self.root / "benchmarks" / (f"{stage}/{name}.tsv" if name is not None else f"{stage}.tsv")

    def slurm_logs(self, cell_path: str, stage: str | None = None) -> Path:
        """Folder of the Slurm files (the sbatch script, the job's stdout and stderr) of a cell's job, or of its
        ``stage`` job (``reflow_pairs``); ``cell_path`` ``compute`` for the experiment's own job."""
        folder = self.root / "logs" / "slurm" / cell_path
        return folder / stage if stage else folder


@dataclass(frozen=True)
class Layout:
    """A results folder (``results_dir`` of the config)."""

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    def experiment(self, name: str) -> ExperimentLayout:
        return ExperimentLayout(self.root / name)

    def dataset_cache(self, dataset: str, resolution: int | str) -> Path:
        """Decoded images of ``dataset`` at ``resolution``, shared by every experiment and cell."""
        return self.root / "datasets" / str(dataset) / f"resolution={resolution}" / "images.pt"

    @property
    def tables(self) -> Path:
        """Folder of the run-wide tables (the paper table)."""
        return self.root / "tables"

    def paper_results(self, ext: str) -> Path:
        return self.tables / f"paper_results.{ext}"

    @property
    def report_pages(self) -> Path:
        """Folder of the HTML pages that ``snakemake --report`` shows."""
        return self.root / "report"

    def report_page(self, name: str, experiment: str | None = None) -> Path:
        return self.report_pages / (f"{experiment}/{name}.html" if experiment else f"{name}.html")

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def cell_of(path: str | os.PathLike) -> tuple[str, str] | None:
    """``(experiment, cell path)`` of a file inside ``<experiment>/cells/<cell>/`` or
    ``<experiment>/checkpoints/<cell>/``, else None."""
    parts = Path(path).parent.parts
    for marker in (CELLS, CHECKPOINTS):
        if marker in parts[1:]:
            i = len(parts) - 1 - parts[::-1].index(marker)
            return parts[i - 1], "/".join(parts[i + 1:])
    return None
