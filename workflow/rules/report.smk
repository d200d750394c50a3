rule report:
    input:
        evaluations=expand(EVALUATION, focus=FOCUS_LEVELS, dataset=DATASETS),
        losses=expand(LOSS, focus=FOCUS_LEVELS),
    output:
        csv=ACCURACY_CSV,
        heatmap=HEATMAP_PNG,
        losses=LOSS_PNG,
    log:
        "results/logs/report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=retry_runtime(10),
    script:
        "../scripts/report.py"
