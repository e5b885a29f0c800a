# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.train_cell.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import log_to, train_cell

with log_to(snakemake.log[0], snakemake.threads):
    train_cell(snakemake.params.settings, snakemake.input.data, snakemake.output.model, snakemake.output.gradvar,
               checkpoint=snakemake.params.checkpoint)
