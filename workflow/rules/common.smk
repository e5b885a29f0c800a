# Config validation, the sweep grid and path helpers. The schema is
# workflow/schemas/config.schema.yaml (a link to the copy inside the rfpipe package, so that the command
# line validates with the same file); rfpipe.config.validate_config applies it, fills its defaults and
# checks the rules that span several keys, naming the offending key.
import os
import sys

from rfpipe.config import ConfigError, validate_config
from rfpipe.integrity import ResultsInUseError, checkpoint_path, claim_results, failed_cells
from rfpipe.sweep import Sweep

DRYRUN = getattr(workflow.output_settings, "dryrun", False)
try:
    # A dry run reads no data: it plans a paper-scale grid without the paper's CelebA folder present.
    CONFIG = validate_config(config, check_data=not DRYRUN)
except ConfigError as err:
    sys.stderr.write(f"rfpipe config error: {err}\n")
    sys.exit(1)

SWEEP = Sweep(CONFIG)
RESULTS = SWEEP.results_dir
THREADS = CONFIG["threads"]

# Snakemake's lock is per working directory: refuse a results folder that a run from another checkout is using
# (its claim lasts as long as that Snakemake process).
if not DRYRUN:
    try:
        _CLAIM = claim_results(RESULTS, os.getcwd())
    except ResultsInUseError as err:
        sys.stderr.write(f"rfpipe: {err}\n")
        sys.exit(1)


wildcard_constraints:
    experiment=r"[A-Za-z][A-Za-z0-9_]*",
    cell=r"(?:\w+=[^/]+/)*seed=\d+",
    data=r"(?:\w+=[^/]+/)*seed=\d+",


def cell_settings(wildcards):
    """Every setting of the cell named by the wildcards (the rule's params, so a change reruns it)."""
    return SWEEP.cell(wildcards.experiment, wildcards.cell).settings


def cell_data(wildcards):
    """The prepared data file a cell trains and evaluates on."""
    cell = SWEEP.cell(wildcards.experiment, wildcards.cell)
    return f"{RESULTS}/{wildcards.experiment}/data/{cell.data_path}/data.pt"


def cell_checkpoint(wildcards):
    """The cell's resume checkpoint (not an output: Snakemake would delete it when a job fails); its failure
    record goes beside it."""
    return str(checkpoint_path(f"{RESULTS}/{wildcards.experiment}", wildcards.cell))


def experiment_settings(wildcards):
    """What a whole-experiment job reads (fixed settings less the report's, and the grid): its params."""
    return SWEEP.experiments[wildcards.experiment].job_settings()


def report_settings(wildcards):
    """The experiment's fixed settings, the report's own included: a changed verdict setting reruns the report."""
    return SWEEP.experiments[wildcards.experiment].settings


def data_settings(wildcards):
    return SWEEP.experiments[wildcards.experiment].data_settings(wildcards.data)


def image_source(dataset, resolution):
    """(data_dir, limit) of the image cache of ``dataset`` at ``resolution``: enough images for every cell."""
    dirs, limit = set(), 0
    for exp in SWEEP.experiments.values():
        for cell in exp.cells.values() if exp.kind == "images" else ():
            st = cell.settings
            if st["dataset"] == dataset and st["resolution"] == resolution:
                dirs.add(st["data_dir"])
                limit = max(limit, st["n_pairs"] + st["n_test"])
    if len(dirs) > 1:
        raise ValueError(f"dataset {dataset!r} is read from several data_dir values {sorted(map(str, dirs))}")
    return (dirs.pop() if dirs else None), limit


def image_cache_file(wildcards):
    """The decoded-image cache an ``images`` data file is drawn from."""
    st = data_settings(wildcards)
    return f"{RESULTS}/datasets/{st['dataset']}/resolution={st['resolution']}/images.pt"


def teacher_pairs_file(wildcards):
    """For a ``reflow`` data file, the pairs (x_0, phi(x_0)) of its teacher cell (see Experiment.teacher)."""
    if data_settings(wildcards)["coupling"] != "reflow":
        return []
    teacher = SWEEP.experiments[wildcards.experiment].teacher(wildcards.data)
    return f"{RESULTS}/{wildcards.experiment}/cells/{teacher.path}/reflow_pairs.pt"


# Cells whose training stopped on a NaN or inf leave a failure record (rfpipe.integrity) that matches their
# settings, and so have the cells trained on the reflow pairs of a failed teacher: their experiment's report is
# then written without them and lists them as failed (a rerun with --keep-going finishes every other cell
# first). Delete the record, or change the settings, to retry one.
FAILED = {
    name: failed_cells(f"{RESULTS}/{name}", exp.cells, exp.teachers()) for name, exp in SWEEP.experiments.items()
}
for _name, _failed in FAILED.items():
    for _path, _record in _failed.items():
        sys.stderr.write(
            f"rfpipe: cell {_name}/{_path} failed ({_record['error']}); its report lists it as failed; "
            f"delete {_record['record']} to train it again\n"
        )


def cell_files(experiment, filename):
    """``filename`` in every cell folder of ``experiment``, failed cells (``FAILED``) excepted."""
    cells = SWEEP.experiments[experiment].cells
    return [f"{RESULTS}/{experiment}/cells/{path}/{filename}" for path in cells if path not in FAILED[experiment]]


def experiments_of(*kinds):
    """A regex alternation of the experiment names of these kinds (one that never matches if there are none)."""
    names = [name for name, exp in SWEEP.experiments.items() if exp.kind in kinds]
    return "|".join(names) if names else "(?!)"


REPORTS = {
    "rotation": (
        ["summary", "verdicts"],
        ["gradvar", "gradvar_t", "trajectories", "memorisation_map"],
    ),
    "mog": (["summary", "verdicts"], ["mmd", "gradvar"]),
    "images": (["summary", "verdicts"], ["image_grid", "l2", "gradvar"]),
    "reflow": (["summary", "verdicts"], ["reflow"]),
    "gaussian_variance": (
        ["variance_summary", "variance_verdicts"],
        ["variance_t", "variance_angle", "variance_c3"],
    ),
}
"""Per experiment kind: the report's tables (each as .csv and .md) and figures (.png)."""


def report_files(experiment):
    tables, figures = REPORTS[SWEEP.experiments[experiment].kind]
    return [f"{RESULTS}/{experiment}/tables/{name}.{ext}" for name in tables for ext in ("csv", "md")] + [
        f"{RESULTS}/{experiment}/figures/{name}.png" for name in figures
    ]


def all_reports():
    return [f for name in SWEEP.experiments for f in report_files(name)]
