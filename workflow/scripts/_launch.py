"""A rule's job target run here (executor local) or as a Slurm job (executor slurm) through rfpipe.launch, with the
experiment's Slurm resources for that job from the config (``slurm``, with ``jobs.<job>`` and
``experiments.<experiment>`` overrides). The
rule's process imports rfpipe.launch only, never torch, so a job waiting on Slurm costs about 30 MB here. Where
the job runs is read from the config, not the params: moving a sweep to Slurm reruns nothing."""
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.launch import SlurmResources, run


def launch(snakemake, job, target, kwargs, log_dir, job_name):
    """``run(target, kwargs)`` where the config's ``executor`` says, with the resources of the experiment's ``job``
    jobs (``train``, ``data``, ``reflow_pairs`` or ``compute``: rfpipe.launch.SlurmResources.for_job)."""
    config = snakemake.config
    resources = SlurmResources.for_job(config.get("slurm"), snakemake.wildcards.experiment, job)
    return run(target, kwargs, executor=config.get("executor", "local"), resources=resources, log_dir=log_dir,
               job_name=job_name)
