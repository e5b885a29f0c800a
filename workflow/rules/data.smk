# Data preparation: one job per data path of every experiment whose kind prepares data (its
# jobs.prepare_data), and the decoded images that image data is drawn from.


rule data:
    input:
        unpack(data_inputs),
    output:
        str(EXP.data("{data}")),
    params:
        settings=data_settings,
    wildcard_constraints:
        experiment=experiments_where(lambda kind: kind.data_settings is not None),
    log:
        str(EXP.log("data", "{data}")),
    benchmark:
        str(EXP.benchmark("data", "{data}"))
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/data.py"


rule dataset_cache:
    # Decoded, resized images: once per dataset and resolution, shared by every experiment and cell.
    output:
        str(LAYOUT.dataset_cache("{dataset}", "{resolution}")),
    params:
        data_dir=lambda w: dataset_source(w.dataset, int(w.resolution))[0],
        limit=lambda w: dataset_source(w.dataset, int(w.resolution))[1],
    wildcard_constraints:
        dataset=r"[a-z0-9_]+",
        resolution=r"\d+",
    log:
        str(LAYOUT.dataset_cache("{dataset}", "{resolution}").with_suffix(".log")),
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/dataset_cache.py"
