# Thin wrapper: every cell of a gaussian_variance experiment into rfpipe.pipeline.gaussian_variance.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.config import validate_config
from rfpipe.pipeline import gaussian_variance, log_to
from rfpipe.sweep import Sweep

with log_to(snakemake.log[0], snakemake.threads):
    experiment = Sweep(validate_config(snakemake.config)).experiments[snakemake.params.experiment]
    gaussian_variance(experiment, snakemake.output[0])
