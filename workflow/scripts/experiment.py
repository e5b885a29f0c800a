# Thin wrapper: the rule's params into rfpipe.pipeline.experiment_job (the kind's jobs.run_experiment).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import experiment_job

experiment_job(snakemake.params.experiment, snakemake.params.settings, snakemake.output[0], log=snakemake.log[0],
               threads=snakemake.threads)
