# Thin wrapper: a trained cell into rfpipe.pipeline.reflow_pairs_job, here or as a Slurm job (_launch.py).
from _launch import launch

w, params = snakemake.wildcards, snakemake.params
launch(
    snakemake,
    "reflow_pairs",
    "rfpipe.pipeline:reflow_pairs_job",
    {
        "settings": dict(params.settings),
        "data": snakemake.input.data,
        "model": snakemake.input.model,
        "pairs": snakemake.output[0],
        "log": snakemake.log[0],
        "threads": snakemake.threads,
    },
    params.slurm_logs,
    f"rfpipe:{w.experiment}/{w.cell}/reflow_pairs",
)
