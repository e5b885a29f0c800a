"""The Gaussian variance experiment's one job: every cell's Monte Carlo gradient variance into one file."""

from __future__ import annotations

import logging
import os
import time

import pyarrow as pa

from rfpipe.gaussian import GaussianPair, variance_at_field
from rfpipe.interpolants import Interpolant
from rfpipe.io import write_parquet
from rfpipe.kinds.gaussian_variance import GaussianVarianceSettings
from rfpipe.pipeline import GRADVAR_SCHEMA
from rfpipe.sweep import Experiment

__all__ = ["VARIANCE_SCHEMA", "run_experiment"]

log = logging.getLogger("rfpipe")

VARIANCE_SCHEMA = pa.schema([
    ("rep", pa.int64()), ("space", pa.string()), *[f for f in GRADVAR_SCHEMA if f.name != "step"],
])
"""The rows of one cell: per repetition, space (``parameter``, ``output``) and t-bin, the gradient statistics."""


def run_experiment(experiment: Experiment, variance: str | os.PathLike) -> None:
    """Every cell of the experiment into one Parquet file.

    Columns: the grid axes and ``field``, ``dim``, ``angle``, ``noise``, ``cov`` (typed as in the schema),
    then ``rep``, ``space`` and the :class:`rfpipe.gradvar.GradVarStats` fields.
    """
    schema = experiment.partition_schema()
    keys = list(schema) + [f for f in experiment.column_schema(("field", "dim", "angle", "noise", "cov"))
                           if f.name not in schema.names]
    tables = []
    for cell in experiment.cells.values():
        st = GaussianVarianceSettings.from_mapping(cell.settings)
        pair = GaussianPair.from_settings(st.dim, st.mean, st.cov)
        start = time.perf_counter()
        rows = variance_at_field(pair, st.field, st.coupling, st.angle, Interpolant(st.sigma, st.noise),
                                 st.n_samples, st.repetitions, st.t_bins, st.seed)
        table = pa.Table.from_pylist(rows, schema=VARIANCE_SCHEMA)
        for field in reversed(list(keys)):
            table = table.add_column(0, field, pa.array([getattr(st, field.name)] * len(table), type=field.type))
        tables.append(table)
        log.info("%s: %d rows in %.2f s", cell.path, len(table), time.perf_counter() - start)
    write_parquet(pa.concat_tables(tables), variance)
