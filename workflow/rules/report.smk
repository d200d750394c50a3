rule report:
    input:
        evaluations=expand(
            EVALUATION,
            rep=REPLICATE_PREFIXES,
            split=SPLITS,
            focus=FOCUS_LEVELS,
            dataset=DATASETS,
        ),
        losses=expand(LOSS, rep=REPLICATE_PREFIXES, focus=FOCUS_LEVELS),
    output:
        replicate_matrices=expand(
            REPLICATE_MATRIX, rep=REPLICATE_PREFIXES, split=SPLITS
        ),
        csv=report(
            expand(ACCURACY_CSV, split=SPLITS),
            caption="../report/accuracy_csv.rst",
            category="Accuracy",
        ),
        sd_csv=report(
            expand(ACCURACY_SD_CSV, split=SPLITS),
            caption="../report/accuracy_sd_csv.rst",
            category="Accuracy",
        ),
        heatmap=report(
            expand(HEATMAP_PNG, split=SPLITS),
            caption="../report/heatmap.rst",
            category="Accuracy",
        ),
        losses=report(LOSS_PNG, caption="../report/losses.rst", category="Training"),
    log:
        "results/logs/report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=retry_runtime(10),
    params:
        replicate_prefixes=REPLICATE_PREFIXES,
        splits=SPLITS,
        # Path templates (a dict, so Snakemake leaves their wildcards alone).
        paths={
            "evaluation": EVALUATION,
            "loss": LOSS,
            "replicate_matrix": REPLICATE_MATRIX,
            "accuracy": ACCURACY_CSV,
            "accuracy_sd": ACCURACY_SD_CSV,
            "heatmap": HEATMAP_PNG,
        },
    script:
        "../scripts/report.py"
