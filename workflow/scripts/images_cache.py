# Thin wrapper: the rule's wildcards and params into rfpipe.pipeline.cache_images.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import cache_images, log_to

with log_to(snakemake.log[0]):
    cache_images(snakemake.wildcards.dataset, int(snakemake.wildcards.resolution), snakemake.params.data_dir,
                 snakemake.params.limit, snakemake.output[0])
