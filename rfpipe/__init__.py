"""rfpipe: a declarative sweep pipeline for the gradient-variance failure modes of Rectified Flow.

Concepts, one module each: :mod:`rfpipe.data`, :mod:`rfpipe.couplings`, :mod:`rfpipe.interpolants`,
:mod:`rfpipe.models` and :mod:`rfpipe.unet`, :mod:`rfpipe.images` (real image datasets), :mod:`rfpipe.ot` (OT
pairings), :mod:`rfpipe.training` (with :mod:`rfpipe.gradvar`, the gradient-variance probe),
:mod:`rfpipe.sampling` (ODE solvers), :mod:`rfpipe.evaluation` (endpoints against both partners),
:mod:`rfpipe.metrics` and :mod:`rfpipe.mmd`; the experiments' science in :mod:`rfpipe.gaussian` (closed-form
Gaussian fields), :mod:`rfpipe.mixture` (the Table 1 target) and :mod:`rfpipe.reflow`. Each experiment kind is a
package of :mod:`rfpipe.kinds` (its typed settings and registration, its jobs, its report), found through the
registry there; :mod:`rfpipe.reporting` holds the reports' shared parts (tables, the verdict rule, the reported
values, the paper table). :mod:`rfpipe.config` validates a config, :mod:`rfpipe.settings` types it and
:mod:`rfpipe.sweep` turns it into cells; :mod:`rfpipe.layout` builds every path of the results folder;
:mod:`rfpipe.pipeline` is the shared glue the workflow's jobs call; :mod:`rfpipe.launch` runs a cell locally or
on Slurm; :mod:`rfpipe.io` writes files atomically, :mod:`rfpipe.integrity` finds damaged ones,
:mod:`rfpipe.failures` records cells stopped by a NaN or inf and :mod:`rfpipe.claims` claims a results folder;
:mod:`rfpipe.diagnose` checks a user's own flow model for memorisation; :mod:`rfpipe.cli` is the command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
