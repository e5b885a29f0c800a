# Thin wrapper: an experiment's outputs into rfpipe.reporting.report (the report of its kind).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.config import validate_config
from rfpipe.pipeline import log_to
from rfpipe.reporting import report
from rfpipe.sweep import Sweep

with log_to(snakemake.log[0]):
    experiment = Sweep(validate_config(snakemake.config)).experiments[snakemake.wildcards.experiment]
    report(experiment, snakemake.params.experiment_dir)
