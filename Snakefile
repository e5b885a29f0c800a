# rfpipe: regenerate "Gradient Variance Reveals Failure Modes in Flow-Based Generative Models".
# The default config runs every experiment on the CPU (about a quarter of an hour on 2 cores); see README.md.
from snakemake.utils import min_version

min_version("8.0")


# The default config, unless the command line names one: `--configfile config/paper.yaml` then means that
# file alone (Snakemake would otherwise merge it into this one, experiments included).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_reports(),
        PAPER_RESULTS,
