# One report per experiment (rule report_<kind>): its kind's tables and figures (rfpipe.reporting.report).
for _kind in KINDS.values():

    rule:
        name:
            f"report_{_kind.name}"
        input:
            **report_inputs(_kind),
        output:
            report_outputs(_kind),
        log:
            str(EXP.log("report")),
        wildcard_constraints:
            experiment=experiments_of(_kind.name),
        conda:
            "../envs/rfpipe.yaml"
        params:
            experiment_dir=lambda w: str(LAYOUT.experiment(w.experiment).root),
            settings=report_settings,
        script:
            "../scripts/report.py"


report: "../report/workflow.rst"


rule report_tables:
    # HTML views of every experiment's tables, for the report page.
    input:
        [
            str(LAYOUT.experiment(name).table(table))
            for name, exp in SWEEP.experiments.items()
            for table in KINDS[exp.kind].tables
        ],
    output:
        [report(path, **kw) for path, kw in REPORT_ITEMS["tables"]],
    log:
        str(LAYOUT.log("report_tables")),
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
        html=report(
            PAPER_RESULTS[4],
            caption="../report/paper_results.rst",
            category="paper results",
            labels={"table": "paper_results"},
        ),
        config=report(
            PAPER_RESULTS[5], caption="../report/config.rst", category="configuration", labels={"page": "config"}
        ),
    log:
        str(LAYOUT.log("paper_results")),
    conda:
        "../envs/rfpipe.yaml"
    params:
        configfiles=[os.path.relpath(f) for f in workflow.configfiles],
        config=CONFIG,
        results_dir=lambda w, output: str(Path(output.csv).parents[1]),
    script:
        "../scripts/paper_results.py"
