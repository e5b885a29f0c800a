# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.evaluate_cell.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import evaluate_cell, log_to

with log_to(snakemake.log[0], snakemake.threads):
    evaluate_cell(snakemake.params.settings, snakemake.input.data, snakemake.input.model,
                  snakemake.output.metrics, snakemake.output.trajectories)
