# Thin wrapper: one training cell, then its evaluation, through rfpipe.launch, which calls
# rfpipe.pipeline.train_cell_job here
# (executor local) or in a Slurm job submitted with submitit (executor slurm). This process imports
# rfpipe.launch only, never torch, so a waiting cell costs about 30 MB on the submit host.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.launch import SlurmResources, run

config, w = snakemake.config, snakemake.wildcards
resources = dict(config.get("slurm") or {})
resources.update((resources.pop("experiments", None) or {}).get(w.experiment) or {})
results = snakemake.log[0].split(f"/{w.experiment}/logs/")[0]
run(
    "rfpipe.pipeline:train_cell_job",
    {
        "settings": dict(snakemake.params.settings),
        "data": snakemake.input.data,
        "model": snakemake.output.model,
        "gradvar": snakemake.output.gradvar,
        "checkpoint": snakemake.params.checkpoint,
        "log": snakemake.log[0],
        "threads": snakemake.threads,  # a job submitted to Slurm uses its cpus instead
        # The cell's evaluation outputs (metrics and per-kind extras): evaluated in the same job.
        "evaluation": {k: v for k, v in snakemake.output.items() if k not in ("model", "gradvar")},
    },
    executor=config.get("executor", "local"),
    resources=SlurmResources.from_mapping(resources),
    log_dir=f"{results}/{w.experiment}/logs/slurm/{w.cell}",
    job_name=f"rfpipe:{w.experiment}/{w.cell}",
)
