# Damaged outputs (truncated or corrupted: a full disk, a copy cut short) look up to date to Snakemake, so every
# existing .pt and .parquet file of the experiments is read back (zip and Parquet page CRC-32s;
# rfpipe.integrity) when the workflow starts, unless it passed at an earlier start and its size, time and inode
# are unchanged (<experiment>/.verified.json). A damaged file is removed, with the other files of its cell
# folder if it is in one: the cell is trained and evaluated again, and the reports after it are remade. A
# damaged data file takes the cells trained on it with it, so that it is needed, and made, again. A dry run only
# reports them, and writes nothing.
from rfpipe.integrity import damaged_outputs, remove_cell, remove_damaged

for _path, _reason in damaged_outputs(
    [LAYOUT.experiment(name).root for name in SWEEP.experiments], remember=not DRYRUN
):
    if DRYRUN:
        sys.stderr.write(f"rfpipe: {_path} is damaged ({_reason}); a run without -n removes it and makes it again\n")
    else:
        _removed = ", ".join(p.name for p in remove_damaged(_path))
        _cells = [str(folder) for folder in cells_on_data(_path) if remove_cell(folder)]
        _also = f"; with the cells trained on it: {', '.join(_cells)}" if _cells else ""
        sys.stderr.write(f"rfpipe: {_path} is damaged ({_reason}); removed ({_removed}{_also}) to be made again\n")


# One job per cell, for every kind with cell outputs (rule train_<kind>): its jobs.run_cell, through
# rfpipe.launch (here, or as a Slurm job with executor slurm), trains the cell and evaluates it in the same
# process, so torch and the data are loaded once per cell.
for _kind in KINDS.values():
    if not _kind.cell_outputs:
        continue

    rule:
        name:
            f"train_{_kind.name}"
        input:
            **({"data": cell_data} if _kind.data_settings is not None else {}),
        output:
            **{name: str(EXP.cell("{cell}", filename)) for name, filename in _kind.cell_outputs.items()},
        log:
            str(EXP.log("train", "{cell}")),
        benchmark:
            str(EXP.benchmark("train", "{cell}"))
        wildcard_constraints:
            experiment=experiments_of(_kind.name),
        conda:
            "../envs/rfpipe.yaml"
        threads: 1 if CONFIG["executor"] == "slurm" else THREADS
        resources:
            slurm_job=slurm_job(),
        params:
            settings=cell_settings,
            checkpoint=cell_checkpoint,
            slurm_logs=cell_slurm_logs,
        script:
            "../scripts/cell.py"


rule reflow_pairs:
    # The reusable ReFlow step: (x_0, phi(x_0)) from any trained cell, on request, e.g.
    # snakemake --cores 2 results/rotation/cells/coupling=rotated/sigma=0.0/seed=0/reflow_pairs.pt
    input:
        data=cell_data,
        model=str(EXP.cell("{cell}", "model.pt")),
    output:
        str(EXP.cell("{cell}", "reflow_pairs.pt")),
    log:
        str(EXP.log("reflow_pairs", "{cell}")),
    wildcard_constraints:
        experiment=experiments_where(lambda kind: kind.has_model),
    conda:
        "../envs/rfpipe.yaml"
    threads: THREADS
    resources:
        slurm_job=slurm_job(),
    params:
        settings=cell_settings,
        slurm_logs=reflow_pairs_slurm_logs,
    script:
        "../scripts/reflow_pairs.py"


# For every kind computed in one job per experiment (rule compute_<kind>): its jobs.run_experiment, through
# rfpipe.launch, over the experiment's cells, or in `chunks` jobs each over a contiguous share of them (on Slurm
# they run side by side), merged in cell order by a cheap local job (rule merge_<kind>).
for _kind in KINDS.values():
    if not _kind.experiment_outputs:
        continue
    _output = next(iter(_kind.experiment_outputs.values()))
    _stem = _output.split(".")[0]

    rule:
        name:
            f"compute_{_kind.name}"
        output:
            str(EXP.chunk(_output, "{chunk}")),
        log:
            str(EXP.log(_stem, "{chunk}")),
        benchmark:
            str(EXP.benchmark(_stem, "{chunk}"))
        wildcard_constraints:
            experiment=experiments_of(_kind.name),
            chunk=r"\d+-of-\d+",
        conda:
            "../envs/rfpipe.yaml"
        threads: THREADS
        resources:
            slurm_job=slurm_job(),
        params:
            experiment=lambda w: w.experiment,
            settings=experiment_settings,
            chunk=lambda w: w.chunk,
            slurm_logs=experiment_slurm_logs,
        script:
            "../scripts/experiment.py"

    rule:
        name:
            f"merge_{_kind.name}"
        input:
            chunks=experiment_chunks(_output),
        output:
            str(EXP.file(_output)),
        log:
            str(EXP.log(_stem)),
        wildcard_constraints:
            experiment=experiments_of(_kind.name),
        conda:
            "../envs/rfpipe.yaml"
        script:
            "../scripts/merge_chunks.py"
