# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.evaluate_image_cell.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import evaluate_image_cell, log_to

with log_to(snakemake.log[0], snakemake.threads):
    evaluate_image_cell(snakemake.params.settings, snakemake.input.data, snakemake.input.model,
                        snakemake.output.metrics, snakemake.output.samples, snakemake.output.grid)
