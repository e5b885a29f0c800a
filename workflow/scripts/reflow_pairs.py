# Thin wrapper: a trained cell into rfpipe.pipeline.generate_reflow_pairs.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import generate_reflow_pairs, log_to

with log_to(snakemake.log[0], snakemake.threads):
    generate_reflow_pairs(snakemake.params.settings, snakemake.input.data, snakemake.input.model, snakemake.output[0])
