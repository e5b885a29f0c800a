"""rfpipe: a declarative sweep pipeline for the gradient-variance failure modes of Rectified Flow.

Concepts, one module each: :mod:`rfpipe.data`, :mod:`rfpipe.couplings`, :mod:`rfpipe.interpolants`,
:mod:`rfpipe.models` and :mod:`rfpipe.unet`, :mod:`rfpipe.images` (real image datasets), :mod:`rfpipe.ot` (OT
pairings), :mod:`rfpipe.training` (with :mod:`rfpipe.gradvar`, the gradient-variance probe),
:mod:`rfpipe.sampling` (ODE solvers), :mod:`rfpipe.metrics` and :mod:`rfpipe.mmd`; the experiments'
science in :mod:`rfpipe.gaussian` (closed-form Gaussian fields), :mod:`rfpipe.mixture` (the Table 1 target)
and :mod:`rfpipe.reflow`; :mod:`rfpipe.reporting` (tables, verdicts, figures). :mod:`rfpipe.config` and
:mod:`rfpipe.sweep` turn a config into cells; :mod:`rfpipe.pipeline` holds one function per workflow rule;
:mod:`rfpipe.launch` runs a cell locally or on Slurm; :mod:`rfpipe.diagnose` checks a user's own flow model for
memorisation; :mod:`rfpipe.cli` is the command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
