# Focus-level experiment on CIFAR-10 mosaics: see docs/protocol.md and README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        expand(REPLICATE_MATRIX, rep=REPLICATE_PREFIXES, split=SPLITS),
        expand(ACCURACY_CSV, split=SPLITS),
        expand(ACCURACY_SD_CSV, split=SPLITS),
        expand(HEATMAP_PNG, split=SPLITS),
        expand(LEARNED_CSV, split=SPLITS),
        expand(LEARNED_HEATMAP_PNG, split=SPLITS),
        LOSS_PNG,
        HEALTH_CSV,
        STUDY_TXT,
        STUDY_PNG,
