# Thin wrapper: the rule's params into rfpipe.pipeline.experiment_job (the kind's jobs.run_experiment over one
# chunk of the cells), here or as a Slurm job (_launch.py).
from _launch import launch

params = snakemake.params
launch(
    snakemake,
    "compute",
    "rfpipe.pipeline:experiment_job",
    {
        "name": params.experiment,
        "settings": dict(params.settings),
        "output": snakemake.output[0],
        "log": snakemake.log[0],
        "threads": snakemake.threads,
        "chunk": params.chunk,
    },
    params.slurm_logs,
    f"rfpipe:{params.experiment}",
)
