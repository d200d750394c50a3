# Focus-level experiment on CIFAR-10 mosaics: see docs/protocol.md and README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/data.smk"


if PLAN.lockstep:

    include: "workflow/rules/lockstep.smk"

else:

    include: "workflow/rules/training.smk"
    include: "workflow/rules/evaluation.smk"


include: "workflow/rules/report.smk"
include: "workflow/rules/attention.smk"


rule all:
    default_target: True
    input:
        PLAN.all_outputs(),
