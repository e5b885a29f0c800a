"""Reports: aggregation over a sweep into tables (with verdicts per claim) and seaborn figures.

One module per experiment kind (:mod:`rfpipe.reporting.rotation`, :mod:`rfpipe.reporting.gaussian`) on
shared helpers (:mod:`rfpipe.reporting.common`).
"""

from rfpipe.reporting.common import markdown_table, mean_ci, read_cells, summarise
from rfpipe.reporting.gaussian import gaussian_verdicts, report_gaussian
from rfpipe.reporting.mog import c5_verdicts, report_mog
from rfpipe.reporting.reflow import c8_verdicts, report_reflow
from rfpipe.reporting.rotation import c4_verdicts, report_rotation

__all__ = ["c4_verdicts", "c5_verdicts", "c8_verdicts", "gaussian_verdicts", "markdown_table", "mean_ci",
           "read_cells", "report_gaussian", "report_mog", "report_reflow", "report_rotation", "summarise"]
