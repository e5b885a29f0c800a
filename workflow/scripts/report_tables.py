# Thin wrapper: an HTML view of each experiment table (input i -> output i) for the report page, titled by
# the first line of the table's Markdown twin.
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's rfpipe first)
import pandas as pd

from rfpipe.io import write_text
from rfpipe.pipeline import log_to
from rfpipe.reporting.paper import html_page, table_html

with log_to(snakemake.log[0]):
    for csv, page in zip(snakemake.input, snakemake.output, strict=True):
        md = Path(csv).with_suffix(".md")
        title = md.read_text().split("\n", 1)[0].lstrip("# ") if md.exists() else Path(csv).name
        write_text(html_page(title, table_html(pd.read_csv(csv))), page)
