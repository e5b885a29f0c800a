# Thin wrapper: the rule's inputs and params into rfpipe.pipeline.data_job (the kind's jobs.prepare_data): here, or,
# for a kind whose data preparation is heavy (Kind.heavy_data: the images' OT pairing), where the config's
# executor says, as a Slurm job with the experiment's `data` resources (_launch.py).
import _checkout  # noqa: F401  (this checkout's rfpipe first)

w, params = snakemake.wildcards, snakemake.params
kwargs = {"settings": dict(params.settings), "inputs": dict(snakemake.input.items()), "data": snakemake.output[0],
          "log": snakemake.log[0]}
if params.heavy:
    from _launch import launch

    launch(snakemake, "data", "rfpipe.pipeline:data_job", kwargs, params.slurm_logs, f"rfpipe:{w.experiment}/data")
else:
    from rfpipe.pipeline import data_job

    data_job(**kwargs)
