# Image experiments (claims C6, C7): the decoded image cache, each cell's noise/OT pairing and the report.
# Training and evaluation run in `train_images` (train.smk); the ReFlow teacher's pairs through `reflow_pairs`.


rule images_cache:
    # Decoded, resized images: once per dataset and resolution, shared by every experiment and cell.
    output:
        f"{RESULTS}/datasets/{{dataset}}/resolution={{resolution}}/images.pt",
    params:
        data_dir=lambda w: image_source(w.dataset, int(w.resolution))[0],
        limit=lambda w: image_source(w.dataset, int(w.resolution))[1],
    wildcard_constraints:
        dataset=r"[a-z0-9_]+",
        resolution=r"\d+",
    log:
        f"{RESULTS}/datasets/{{dataset}}/resolution={{resolution}}/images.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/images_cache.py"


rule image_data:
    input:
        images=image_cache_file,
        teacher_pairs=teacher_pairs_file,
    output:
        f"{RESULTS}/{{experiment}}/data/{{data}}/data.pt",
    params:
        settings=data_settings,
    wildcard_constraints:
        experiment=experiments_of("images"),
    log:
        f"{RESULTS}/{{experiment}}/logs/data/{{data}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/data/{{data}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/image_data.py"


rule report_images:
    input:
        metrics=lambda w: cell_files(w.experiment, "metrics.parquet"),
        gradvar=lambda w: cell_files(w.experiment, "gradvar.parquet"),
        samples=lambda w: cell_files(w.experiment, "samples.parquet"),
        grid=lambda w: cell_files(w.experiment, "grid.pt"),
    output:
        [f"{RESULTS}/{{experiment}}/tables/{name}.{ext}" for name in REPORTS["images"][0] for ext in ("csv", "md")],
        [f"{RESULTS}/{{experiment}}/figures/{name}.png" for name in REPORTS["images"][1]],
    params:
        experiment_dir=lambda w: f"{RESULTS}/{w.experiment}",
        settings=report_settings,
    wildcard_constraints:
        experiment=experiments_of("images"),
    log:
        f"{RESULTS}/{{experiment}}/logs/report.log",
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/report.py"
