# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.data_job (the kind's jobs.prepare_data).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import data_job

data_job(snakemake.params.settings, dict(snakemake.input.items()), snakemake.output[0], log=snakemake.log[0])
