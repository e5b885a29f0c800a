import os
from pathlib import Path


rule report:
    input:
        metrics=lambda w: cell_files(w.experiment, "metrics.parquet"),
        gradvar=lambda w: cell_files(w.experiment, "gradvar.parquet"),
        trajectories=lambda w: cell_files(w.experiment, "trajectories.parquet"),
    output:
        summary=f"{RESULTS}/{{experiment}}/tables/summary.csv",
        summary_md=f"{RESULTS}/{{experiment}}/tables/summary.md",
        verdicts=f"{RESULTS}/{{experiment}}/tables/verdicts.csv",
        verdicts_md=f"{RESULTS}/{{experiment}}/tables/verdicts.md",
        gradvar=f"{RESULTS}/{{experiment}}/figures/gradvar.png",
        gradvar_t=f"{RESULTS}/{{experiment}}/figures/gradvar_t.png",
        trajectories=f"{RESULTS}/{{experiment}}/figures/trajectories.png",
        memorisation_map=f"{RESULTS}/{{experiment}}/figures/memorisation_map.png",
    params:
        experiment_dir=lambda w: f"{RESULTS}/{w.experiment}",
        settings=report_settings,
    wildcard_constraints:
        experiment=experiments_of("rotation"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"


rule report_mog:
    input:
        metrics=lambda w: cell_files(w.experiment, "metrics.parquet"),
        gradvar=lambda w: cell_files(w.experiment, "gradvar.parquet"),
    output:
        [f"{RESULTS}/{{experiment}}/tables/{name}.{ext}" for name in REPORTS["mog"][0] for ext in ("csv", "md")],
        [f"{RESULTS}/{{experiment}}/figures/{name}.png" for name in REPORTS["mog"][1]],
    params:
        experiment_dir=lambda w: f"{RESULTS}/{w.experiment}",
        settings=report_settings,
    wildcard_constraints:
        experiment=experiments_of("mog"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"


# The paper results table (every claim beside our numbers) and the page of `snakemake --report`: every
# experiment's figures (REPORTS in common.smk) are marked for the report as inputs of the final rule, its
# tables through HTML views (the report shows HTML in the page, CSV only as a download), each with a caption
# from workflow/report/<kind>/<name>.rst (else generic.rst) and a category per experiment.
REPORT_PAGES = f"{RESULTS}/report"
PAPER_RESULTS = [f"{RESULTS}/tables/paper_results.{ext}" for ext in ("csv", "md", "tex", "json")] + [
    f"{REPORT_PAGES}/paper_results.html",
    f"{REPORT_PAGES}/config.html",
]
CAPTIONS = Path(workflow.basedir) / "workflow" / "report"
# (path, report() keywords) of every figure and every table's HTML view; caption <kind>/<name>.rst or generic.
REPORT_ITEMS = {
    sub: [
        (
            f"{RESULTS}/{name}/figures/{item}.png" if sub == "figures" else f"{REPORT_PAGES}/{name}/{item}.html",
            {
                "caption": (
                    f"../report/{exp.kind}/{item}.rst"
                    if (CAPTIONS / exp.kind / f"{item}.rst").exists()
                    else "../report/generic.rst"
                ),
                "category": name,
                "subcategory": sub,
                "labels": {sub[:-1]: item, "kind": exp.kind},
            },
        )
        for name, exp in SWEEP.experiments.items()
        for item in REPORTS[exp.kind][index]
    ]
    for index, sub in ((0, "tables"), (1, "figures"))
}


report: "../report/workflow.rst"


rule report_tables:
    # HTML views of every experiment's tables, for the report page.
    input:
        [f"{RESULTS}/{name}/tables/{table}.csv" for name, exp in SWEEP.experiments.items() for table in REPORTS[exp.kind][0]],
    output:
        [report(path, **kw) for path, kw in REPORT_ITEMS["tables"]],
    log:
        f"{RESULTS}/logs/report_tables.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report_tables.py"


rule paper_results:
    input:
        figures=[report(path, **kw) for path, kw in REPORT_ITEMS["figures"]],
        tables=rules.report_tables.input,
        pages=[path for path, kw in REPORT_ITEMS["tables"]],
    output:
        csv=PAPER_RESULTS[0],
        md=PAPER_RESULTS[1],
        tex=PAPER_RESULTS[2],
        scale=PAPER_RESULTS[3],
        html=report(PAPER_RESULTS[4], caption="../report/paper_results.rst", category="paper results",
                    labels={"table": "paper_results"}),
        config=report(PAPER_RESULTS[5], caption="../report/config.rst", category="configuration",
                      labels={"page": "config"}),
    params:
        configfiles=[os.path.relpath(f) for f in workflow.configfiles],
    log:
        f"{RESULTS}/logs/paper_results.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/paper_results.py"
