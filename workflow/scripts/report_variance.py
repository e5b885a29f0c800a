# Thin wrapper: a gaussian_variance experiment's results into rfpipe.reporting.report_gaussian.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.config import validate_config
from rfpipe.pipeline import log_to
from rfpipe.reporting import report_gaussian
from rfpipe.sweep import Sweep

with log_to(snakemake.log[0]):
    experiment = Sweep(validate_config(snakemake.config)).experiments[snakemake.wildcards.experiment]
    report_gaussian(experiment, snakemake.input[0], snakemake.params.tables_dir, snakemake.params.figures_dir)
