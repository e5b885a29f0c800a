rule variance:
    output:
        f"{RESULTS}/{{experiment}}/variance.parquet",
    params:
        experiment=lambda w: w.experiment,
        settings=experiment_settings,
    wildcard_constraints:
        experiment=experiments_of("gaussian_variance"),
    threads: THREADS
    log:
        f"{RESULTS}/{{experiment}}/logs/variance.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/variance.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/variance.py"


rule report_variance:
    input:
        f"{RESULTS}/{{experiment}}/variance.parquet",
    output:
        [
            f"{RESULTS}/{{experiment}}/tables/{name}.{ext}"
            for name in REPORTS["gaussian_variance"][0]
            for ext in ("csv", "md")
        ],
        [f"{RESULTS}/{{experiment}}/figures/{name}.png" for name in REPORTS["gaussian_variance"][1]],
    params:
        experiment_dir=lambda w: f"{RESULTS}/{w.experiment}",
        settings=report_settings,
    wildcard_constraints:
        experiment=experiments_of("gaussian_variance"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"
