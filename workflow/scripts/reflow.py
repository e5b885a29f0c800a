# Thin wrapper: the rule's params into rfpipe.pipeline.reflow_cell.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import log_to, reflow_cell

with log_to(snakemake.log[0], snakemake.threads):
    reflow_cell(snakemake.params.settings, snakemake.output[0], checkpoint=snakemake.params.checkpoint)
