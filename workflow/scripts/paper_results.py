# Thin wrapper: every experiment's tables into the paper results table, its report page, the configuration page
# and the scale of the run (rfpipe.reporting.paper.paper_results_job).
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.reporting.paper import paper_results_job

paper_results_job(snakemake.params.config, snakemake.params.results_dir, snakemake.params.configfiles,
                  dict(snakemake.output.items()), log=snakemake.log[0])
