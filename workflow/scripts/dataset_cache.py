# Thin wrapper: the rule's wildcards and params into rfpipe.images.cache_images.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.images import cache_images
from rfpipe.pipeline import log_to

with log_to(snakemake.log[0]):
    cache_images(snakemake.wildcards.dataset, int(snakemake.wildcards.resolution), snakemake.params.data_dir,
                 snakemake.params.limit, snakemake.output[0])
