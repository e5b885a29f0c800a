rule reflow:
    output:
        f"{RESULTS}/{{experiment}}/cells/{{cell}}/reflow.parquet",
    params:
        settings=cell_settings,
        checkpoint=cell_checkpoint,
    wildcard_constraints:
        experiment=experiments_of("reflow"),
    threads: THREADS
    log:
        f"{RESULTS}/{{experiment}}/logs/reflow/{{cell}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/reflow/{{cell}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/reflow.py"


rule report_reflow:
    input:
        lambda w: cell_files(w.experiment, "reflow.parquet"),
    output:
        [f"{RESULTS}/{{experiment}}/tables/{name}.{ext}" for name in REPORTS["reflow"][0] for ext in ("csv", "md")],
        [f"{RESULTS}/{{experiment}}/figures/{name}.png" for name in REPORTS["reflow"][1]],
    params:
        experiment_dir=lambda w: f"{RESULTS}/{w.experiment}",
        settings=report_settings,
    wildcard_constraints:
        experiment=experiments_of("reflow"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"


rule reflow_pairs:
    # The reusable ReFlow step: (x_0, phi(x_0)) from any trained cell, on request, e.g.
    # snakemake --cores 2 results/rotation/cells/coupling=rotated/sigma=0.0/seed=0/reflow_pairs.pt
    input:
        data=cell_data,
        model=f"{RESULTS}/{{experiment}}/cells/{{cell}}/model.pt",
    output:
        f"{RESULTS}/{{experiment}}/cells/{{cell}}/reflow_pairs.pt",
    params:
        settings=cell_settings,
    wildcard_constraints:
        experiment=experiments_of("rotation", "mog", "images"),
    threads: THREADS
    log:
        f"{RESULTS}/{{experiment}}/logs/reflow_pairs/{{cell}}.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/reflow_pairs.py"
