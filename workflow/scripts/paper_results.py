# Thin wrapper: every experiment's tables into the paper results table (rfpipe.reporting.paper), its report
# page, the configuration page, and the scale of the run (rfpipe.reporting.readme.run_scale) for the README.
import json
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.config import validate_config
from rfpipe.io import write_text
from rfpipe.pipeline import log_to
from rfpipe.reporting.paper import config_html, paper_table, write_paper_table
from rfpipe.reporting.readme import run_scale
from rfpipe.sweep import Sweep

with log_to(snakemake.log[0]):
    config = validate_config(snakemake.config)
    experiments = Sweep(config).experiments
    results_dir = Path(snakemake.output.csv).parents[1]  # <results_dir>/tables/paper_results.csv
    frame = paper_table(experiments, results_dir)
    write_paper_table(frame, Path(snakemake.output.csv).parent, snakemake.output.html)
    write_text(config_html(config, snakemake.params.configfiles), snakemake.output.config)
    scale = run_scale(experiments, results_dir, snakemake.params.configfiles)
    write_text(json.dumps({**scale, "rows": len(frame)}, indent=2) + "\n", snakemake.output.scale)
