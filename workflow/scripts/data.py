# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.prepare_data.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import log_to, prepare_data

with log_to(snakemake.log[0]):
    prepare_data(snakemake.params.settings, snakemake.output[0])
