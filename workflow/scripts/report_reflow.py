# Thin wrapper: a reflow experiment's cells into rfpipe.reporting.report_reflow.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.config import validate_config
from rfpipe.pipeline import log_to
from rfpipe.reporting import report_reflow
from rfpipe.sweep import Sweep

with log_to(snakemake.log[0]):
    experiment = Sweep(validate_config(snakemake.config)).experiments[snakemake.wildcards.experiment]
    report_reflow(experiment, snakemake.params.cells_dir, snakemake.params.tables_dir, snakemake.params.figures_dir)
