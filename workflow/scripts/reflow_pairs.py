# Thin wrapper: a trained cell into rfpipe.pipeline.reflow_pairs_job.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import reflow_pairs_job

reflow_pairs_job(snakemake.params.settings, snakemake.input.data, snakemake.input.model, snakemake.output[0],
                 log=snakemake.log[0], threads=snakemake.threads)
