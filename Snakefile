# Focus-level experiment on CIFAR-10 mosaics: see PROTOCOL.md and README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        ACCURACY_CSV,
        HEATMAP_PNG,
        LOSS_PNG,
