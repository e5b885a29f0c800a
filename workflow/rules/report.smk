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
    wildcard_constraints:
        experiment=experiments_of("mog"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"
