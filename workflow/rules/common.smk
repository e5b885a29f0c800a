# Config validation, the sweep grid and input functions. The schema is workflow/schemas/config.schema.yaml (a
# link to the copy inside the rfpipe package, so that the command line validates with the same file);
# rfpipe.config.validate_config applies it, fills its defaults and checks the rules that span several keys,
# naming the offending key. What each experiment kind needs (its jobs, outputs, report) comes from the kind
# registry (rfpipe.kinds); every path from rfpipe.layout.
import os
import sys
from pathlib import Path

from rfpipe import kinds
from rfpipe.claims import ResultsInUseError, claim_results
from rfpipe.config import ConfigError, validate_config
from rfpipe.failures import cell_failures
from rfpipe.layout import Layout
from rfpipe.sweep import Sweep

DRYRUN = getattr(workflow.output_settings, "dryrun", False)
try:
    # A dry run reads no data: it plans a paper-scale grid without the paper's CelebA folder present.
    CONFIG = validate_config(config, check_data=not DRYRUN)
except ConfigError as err:
    sys.stderr.write(f"rfpipe config error: {err}\n")
    sys.exit(1)

SWEEP = Sweep(CONFIG)
LAYOUT = Layout(SWEEP.results_dir)
THREADS = CONFIG["threads"]
KINDS = kinds.kinds()
EXP = LAYOUT.experiment("{experiment}")  # the patterns of every experiment's paths

# Where a job runs. With executor slurm (outside an allocation) each job whose slurm_job resource is 1 is one
# Slurm job, submitted through rfpipe.launch by a small waiting process here; the resource is only a marker,
# so that `snakemake -n` shows it in every such job's description.
ON_SLURM = CONFIG["executor"] == "slurm" and not os.environ.get("SLURM_JOB_ID")


def slurm_job(test=lambda wildcards: True):
    """The ``slurm_job`` resource of a rule: 1 for a job that runs as a Slurm job (``test(wildcards)``), else 0."""
    return lambda wildcards: int(ON_SLURM and test(wildcards))


if DRYRUN and ON_SLURM:
    sys.stderr.write(
        "rfpipe: executor slurm: the jobs marked slurm_job=1 (train_<kind>, compute_<kind>, "
        "reflow_pairs, and data of the kinds whose data preparation is heavy) each run as a Slurm job; "
        "the rest (reports, merges, light data, the image cache) run here\n"
    )

# Snakemake's lock is per working directory: refuse a results folder that a run from another checkout is using
# (its claim lasts as long as that Snakemake process).
if not DRYRUN:
    try:
        _CLAIM = claim_results(LAYOUT.root, os.getcwd())
    except ResultsInUseError as err:
        sys.stderr.write(f"rfpipe: {err}\n")
        sys.exit(1)


wildcard_constraints:
    experiment=r"[A-Za-z][A-Za-z0-9_]*",
    cell=r"(?:\w+=[^/]+/)*seed=\d+",
    data=r"(?:\w+=[^/]+/)*seed=\d+",


def experiments_where(test):
    """A regex alternation of the experiment names whose kind passes ``test`` (one that never matches if none)."""
    names = [name for name, exp in SWEEP.experiments.items() if test(KINDS[exp.kind])]
    return "|".join(names) if names else "(?!)"


def experiments_of(kind):
    return experiments_where(lambda k: k.name == kind)


def cell_settings(wildcards):
    """Every setting of the cell named by the wildcards (the rule's params, so a change reruns it)."""
    return SWEEP.cell(wildcards.experiment, wildcards.cell).settings


def cell_data(wildcards):
    """The prepared data file a cell trains and evaluates on."""
    cell = SWEEP.cell(wildcards.experiment, wildcards.cell)
    return str(LAYOUT.experiment(wildcards.experiment).data(cell.data_path))


def cells_on_data(path):
    """The cell folders of every cell trained on the data file ``path``."""
    path = Path(path).resolve()
    return [
        LAYOUT.experiment(name).cells / cell.path
        for name, exp in SWEEP.experiments.items()
        for cell in exp.cells.values()
        if LAYOUT.experiment(name).data(cell.data_path).resolve() == path
    ]


def cell_checkpoint(wildcards):
    """The cell's resume checkpoint (not an output: Snakemake would delete it when a job fails); its failure
    record goes beside it."""
    return str(LAYOUT.experiment(wildcards.experiment).checkpoint(wildcards.cell))


def cell_slurm_logs(wildcards):
    return str(LAYOUT.experiment(wildcards.experiment).slurm_logs(wildcards.cell))


def reflow_pairs_slurm_logs(wildcards):
    return str(LAYOUT.experiment(wildcards.experiment).slurm_logs(wildcards.cell, "reflow_pairs"))


def experiment_slurm_logs(wildcards):
    return str(LAYOUT.experiment(wildcards.experiment).slurm_logs("compute", wildcards.chunk))


def heavy_data(wildcards):
    """Whether the experiment's kind prepares heavy data (rfpipe.kinds.Kind.heavy_data): a Slurm job then."""
    return KINDS[SWEEP.experiments[wildcards.experiment].kind].heavy_data


def experiment_chunks(filename):
    """The merge input function of ``filename``: its chunks in cell order."""

    def chunks(wildcards):
        experiment = SWEEP.experiments[wildcards.experiment]
        return [str(LAYOUT.experiment(experiment.name).chunk(filename, c)) for c in experiment.chunk_names()]

    return chunks


def experiment_settings(wildcards):
    """What a whole-experiment job reads (fixed settings less the report's, and the grid): its params."""
    return SWEEP.experiments[wildcards.experiment].job_settings()


def report_settings(wildcards):
    """The experiment's fixed settings, the report's own included, and its grid: a changed verdict setting
    reruns the report."""
    return SWEEP.experiments[wildcards.experiment].report_settings()


def data_settings(wildcards):
    return SWEEP.experiments[wildcards.experiment].data_settings(wildcards.data)


def data_inputs(wildcards):
    """The further inputs of a data job, by name (its kind's ``data_inputs``)."""
    exp = SWEEP.experiments[wildcards.experiment]
    return KINDS[exp.kind].data_inputs(exp, wildcards.data, LAYOUT)


def dataset_source(dataset, resolution):
    """(data_dir, limit) of the image cache of ``dataset`` at ``resolution``: enough images for every cell."""
    dirs, limit = set(), 0
    for cell in SWEEP:
        st = cell.settings
        if st.get("dataset") == dataset and st.get("resolution") == resolution:
            dirs.add(st["data_dir"])
            limit = max(limit, st["n_pairs"] + st["n_test"])
    if len(dirs) > 1:
        raise ValueError(f"dataset {dataset!r} is read from several data_dir values {sorted(map(str, dirs))}")
    return (dirs.pop() if dirs else None), limit


# Cells whose training stopped on a NaN or inf leave a failure record (rfpipe.failures) that matches their
# settings, and so have the cells trained on the outputs of a failed teacher: their experiment's report is then
# written without them and lists them as failed (a rerun with --keep-going finishes every other cell first).
# Delete the record, or change the settings, to retry one.
FAILED = {
    name: cell_failures(LAYOUT.experiment(name).root, exp.cells, exp.teachers())
    for name, exp in SWEEP.experiments.items()
}
for _name, _failed in FAILED.items():
    for _path, _record in _failed.items():
        sys.stderr.write(
            f"rfpipe: cell {_name}/{_path} failed ({_record['error']}); its report lists it as failed; "
            f"delete {_record['record']} to train it again\n"
        )


def cell_files(experiment, filename):
    """``filename`` in every cell folder of ``experiment``, failed cells (``FAILED``) excepted."""
    exp = LAYOUT.experiment(experiment)
    cells = SWEEP.experiments[experiment].cells
    return [str(exp.cell(path, filename)) for path in cells if path not in FAILED[experiment]]


def report_inputs(kind):
    """The report's inputs of an experiment of ``kind``, by name: cell files (every cell's) or its own files."""
    inputs = {}
    for name in kind.report_inputs:
        if name in kind.cell_outputs:
            inputs[name] = lambda w, f=kind.cell_outputs[name]: cell_files(w.experiment, f)
        else:
            inputs[name] = str(EXP.file(kind.experiment_outputs[name]))
    return inputs


def report_outputs(kind, experiment="{experiment}"):
    """The report's tables (each .csv and .md) and figures (.png) of an experiment of ``kind``."""
    exp = LAYOUT.experiment(experiment)
    return [str(exp.table(t, ext)) for t in kind.tables for ext in ("csv", "md")] + [
        str(exp.figure(f)) for f in kind.figures
    ]


def all_reports():
    return [f for name, exp in SWEEP.experiments.items() for f in report_outputs(KINDS[exp.kind], name)]


# The paper results table (every claim beside our numbers) and the page of `snakemake --report`: every
# experiment's figures (its kind's `figures`) are marked for the report as inputs of the final rule, its tables
# through HTML views (the report shows HTML in the page, CSV only as a download), each with a caption from
# workflow/report/<kind>/<name>.rst (else generic.rst) and a category per experiment.
PAPER_RESULTS = [str(LAYOUT.paper_results(ext)) for ext in ("csv", "md", "tex", "json")] + [
    str(LAYOUT.report_page("paper_results")),
    str(LAYOUT.report_page("config")),
]
CAPTIONS = Path(workflow.basedir) / "workflow" / "report"


def _caption(kind, item):
    """The caption file of report item ``item`` of an experiment of ``kind`` (generic.rst where it has none)."""
    return f"../report/{kind}/{item}.rst" if (CAPTIONS / kind / f"{item}.rst").exists() else "../report/generic.rst"


# (path, report() keywords) of every figure and every table's HTML view.
REPORT_ITEMS = {
    sub: [
        (
            str(LAYOUT.experiment(name).figure(item) if sub == "figures" else LAYOUT.report_page(item, name)),
            {
                "caption": _caption(exp.kind, item),
                "category": name,
                "subcategory": sub,
                "labels": {sub[:-1]: item, "kind": exp.kind},
            },
        )
        for name, exp in SWEEP.experiments.items()
        for item in getattr(KINDS[exp.kind], sub)
    ]
    for sub in ("tables", "figures")
}
