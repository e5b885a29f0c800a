rule data:
    output:
        f"{RESULTS}/{{experiment}}/data/{{data}}/data.pt",
    params:
        settings=data_settings,
    wildcard_constraints:
        experiment=experiments_of("rotation", "mog"),
    log:
        f"{RESULTS}/{{experiment}}/logs/data/{{data}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/data/{{data}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/data.py"
