rule evaluate:
    input:
        data=cell_data,
        model=f"{RESULTS}/{{experiment}}/cells/{{cell}}/model.pt",
    output:
        metrics=f"{RESULTS}/{{experiment}}/cells/{{cell}}/metrics.parquet",
        trajectories=f"{RESULTS}/{{experiment}}/cells/{{cell}}/trajectories.parquet",
    params:
        settings=cell_settings,
    threads: THREADS
    wildcard_constraints:
        experiment=experiments_of("rotation", "mog"),
    log:
        f"{RESULTS}/{{experiment}}/logs/evaluate/{{cell}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/evaluate/{{cell}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/evaluate.py"
