# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.prepare_image_data.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.pipeline import log_to, prepare_image_data

with log_to(snakemake.log[0]):
    prepare_image_data(snakemake.params.settings, snakemake.input.images, snakemake.output[0],
                       snakemake.input.teacher_pairs or None)
