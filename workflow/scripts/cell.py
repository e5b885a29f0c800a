# Thin wrapper: one cell's job, rfpipe.pipeline.cell_job (its kind's jobs.run_cell: train, then evaluate), through
# rfpipe.launch, here (executor local) or as a Slurm job submitted with submitit (executor slurm). This process
# imports rfpipe.launch only, never torch, so a waiting cell costs about 30 MB on the submit host. Where the job
# runs (executor, slurm resources) is read from the config, not the params: moving a sweep to Slurm reruns
# nothing.
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.launch import SlurmResources, run

config, w, params = snakemake.config, snakemake.wildcards, snakemake.params
resources = dict(config.get("slurm") or {})  # the experiment's own resources override the common ones
resources.update((resources.pop("experiments", None) or {}).get(w.experiment) or {})
run(
    "rfpipe.pipeline:cell_job",
    {
        "settings": dict(params.settings),
        "inputs": dict(snakemake.input.items()),
        "outputs": dict(snakemake.output.items()),
        "checkpoint": params.checkpoint,
        "log": snakemake.log[0],
        "threads": snakemake.threads,  # a job submitted to Slurm uses its cpus instead
    },
    executor=config.get("executor", "local"),
    resources=SlurmResources.from_mapping(resources),
    log_dir=params.slurm_logs,
    job_name=f"rfpipe:{w.experiment}/{w.cell}",
)
