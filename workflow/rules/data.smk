# Data preparation: one job per data path of every experiment whose kind prepares data (its
# jobs.prepare_data), and the decoded images that image data is drawn from.


rule data:
    input:
        unpack(data_inputs),
    output:
        str(EXP.data("{data}")),
    log:
        str(EXP.log("data", "{data}")),
    benchmark:
        str(EXP.benchmark("data", "{data}"))
    wildcard_constraints:
        experiment=experiments_where(lambda kind: kind.data_settings is not None),
    conda:
        "../envs/rfpipe.yaml"
    resources:
        slurm_job=slurm_job(heavy_data),
    params:
        settings=data_settings,
        heavy=heavy_data,
        slurm_logs=lambda w: str(LAYOUT.experiment(w.experiment).slurm_logs("data", w.data)),
    script:
        "../scripts/data.py"


rule dataset_cache:
    # Decoded, resized images: once per dataset and resolution, shared by every experiment and cell.
    output:
        str(LAYOUT.dataset_cache("{dataset}", "{resolution}")),
    log:
        str(LAYOUT.dataset_cache("{dataset}", "{resolution}").with_suffix(".log")),
    wildcard_constraints:
        dataset=r"[a-z0-9_]+",
        resolution=r"\d+",
    conda:
        "../envs/rfpipe.yaml"
    params:
        data_dir=lambda w: dataset_source(w.dataset, int(w.resolution))[0],
        limit=lambda w: dataset_source(w.dataset, int(w.resolution))[1],
    script:
        "../scripts/dataset_cache.py"
