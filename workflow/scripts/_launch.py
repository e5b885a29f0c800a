"""A rule's job target run here (executor local) or as a Slurm job (executor slurm) through rfpipe.launch, with the
experiment's Slurm resources from the config (``slurm``, overridden by ``slurm.experiments.<experiment>``). The
rule's process imports rfpipe.launch only, never torch, so a job waiting on Slurm costs about 30 MB here. Where
the job runs is read from the config, not the params: moving a sweep to Slurm reruns nothing."""
import _checkout  # noqa: F401  (this checkout's rfpipe first)
from rfpipe.launch import SlurmResources, run


def launch(snakemake, target, kwargs, log_dir, job_name):
    """``run(target, kwargs)`` where the config's ``executor`` says, with the experiment's resources."""
    config = snakemake.config
    resources = dict(config.get("slurm") or {})  # the experiment's own resources override the common ones
    resources.update((resources.pop("experiments", None) or {}).get(snakemake.wildcards.experiment) or {})
    return run(target, kwargs, executor=config.get("executor", "local"),
               resources=SlurmResources.from_mapping(resources), log_dir=log_dir, job_name=job_name)
