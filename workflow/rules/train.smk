rule train:
    input:
        data=cell_data,
    output:
        model=f"{RESULTS}/{{experiment}}/cells/{{cell}}/model.pt",
        gradvar=f"{RESULTS}/{{experiment}}/cells/{{cell}}/gradvar.parquet",
    params:
        settings=cell_settings,
        checkpoint=lambda w: f"{RESULTS}/{w.experiment}/checkpoints/{w.cell}/state.pt",
    threads: 1 if CONFIG["executor"] == "slurm" else THREADS
    wildcard_constraints:
        experiment=experiments_of("rotation", "mog", "images"),
    log:
        f"{RESULTS}/{{experiment}}/logs/train/{{cell}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/train/{{cell}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/train.py"
