# Thin wrapper: the chunks of an experiment-wide output into one file, rfpipe.pipeline.merge_chunks (here: cheap).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import merge_chunks

merge_chunks(list(snakemake.input.chunks), snakemake.output[0], log=snakemake.log[0])
