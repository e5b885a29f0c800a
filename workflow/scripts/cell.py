# Thin wrapper: one cell's job, rfpipe.pipeline.cell_job (its kind's jobs.run_cell: train, then evaluate), here
# or as a Slurm job (_launch.py).
from _launch import launch

w, params = snakemake.wildcards, snakemake.params
launch(
    snakemake,
    "train",
    "rfpipe.pipeline:cell_job",
    {
        "settings": dict(params.settings),
        "inputs": dict(snakemake.input.items()),
        "outputs": dict(snakemake.output.items()),
        "checkpoint": params.checkpoint,
        "log": snakemake.log[0],
        "threads": snakemake.threads,  # a job submitted to Slurm uses its cpus instead
    },
    params.slurm_logs,
    f"rfpipe:{w.experiment}/{w.cell}",
)
