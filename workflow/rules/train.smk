# Damaged outputs (truncated or corrupted: a full disk, a copy cut short) look up to date to Snakemake, so every
# existing .pt and .parquet file of the experiments is read back (zip and Parquet page CRC-32s;
# rfpipe.integrity) when the workflow starts, unless it passed at an earlier start and its size, time and inode
# are unchanged (<experiment>/.verified.json). A damaged file is removed, with the other files of its cell
# folder if it is in one: the cell is trained and evaluated again, and the reports after it are remade. A dry
# run only reports them, and writes nothing.
from rfpipe.integrity import damaged_outputs, remove_damaged

for _path, _reason in damaged_outputs([f"{RESULTS}/{name}" for name in SWEEP.experiments], remember=not DRYRUN):
    if DRYRUN:
        sys.stderr.write(f"rfpipe: {_path} is damaged ({_reason}); a run without -n removes it and makes it again\n")
    else:
        _removed = ", ".join(p.name for p in remove_damaged(_path))
        sys.stderr.write(f"rfpipe: {_path} is damaged ({_reason}); removed ({_removed}) to be made again\n")


# One job per cell: train it, then evaluate it in the same process (rfpipe.pipeline.train_cell_job), so torch and
# the data are loaded once per cell. Rotation and mog cells write trajectories, image cells per-sample distances
# and the images of the grid figure.
CELL = f"{RESULTS}/{{experiment}}/cells/{{cell}}"


rule train:
    input:
        data=cell_data,
    output:
        model=f"{CELL}/model.pt",
        gradvar=f"{CELL}/gradvar.parquet",
        metrics=f"{CELL}/metrics.parquet",
        trajectories=f"{CELL}/trajectories.parquet",
    params:
        settings=cell_settings,
        checkpoint=cell_checkpoint,
    threads: 1 if CONFIG["executor"] == "slurm" else THREADS
    wildcard_constraints:
        experiment=experiments_of("rotation", "mog"),
    log:
        f"{RESULTS}/{{experiment}}/logs/train/{{cell}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/train/{{cell}}.tsv"
    conda:
        "../envs/rfpipe.yaml"
    script:
        "../scripts/train.py"


use rule train as train_images with:
    output:
        model=f"{CELL}/model.pt",
        gradvar=f"{CELL}/gradvar.parquet",
        metrics=f"{CELL}/metrics.parquet",
        samples=f"{CELL}/samples.parquet",
        grid=f"{CELL}/grid.pt",
    wildcard_constraints:
        experiment=experiments_of("images"),
