# Thin wrapper: an experiment's outputs into rfpipe.reporting.report_job (the report of its kind).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.reporting import report_job

report_job(snakemake.wildcards.experiment, snakemake.params.settings, snakemake.params.experiment_dir,
           log=snakemake.log[0])
