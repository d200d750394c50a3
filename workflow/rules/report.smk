rule report:
    input:
        # In this order: replicate, split, trained on, tested on (scripts/report.py relies on it).
        evaluations=expand(
            EVALUATION,
            rep=REPLICATE_PREFIXES,
            split=SPLITS,
            focus=FOCUS_LEVELS,
            dataset=DATASETS,
        ),
        losses=expand(LOSS, rep=REPLICATE_PREFIXES, focus=FOCUS_LEVELS),
        records=expand(MODEL_RECORD, rep=REPLICATE_PREFIXES, focus=FOCUS_LEVELS),
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
        learned_csv=report(
            expand(LEARNED_CSV, split=SPLITS),
            caption="../report/accuracy_learned_csv.rst",
            category="Accuracy",
        ),
        learned_sd_csv=expand(LEARNED_SD_CSV, split=SPLITS),
        heatmap=report(
            expand(HEATMAP_PNG, split=SPLITS),
            caption="../report/heatmap.rst",
            category="Accuracy",
        ),
        learned_heatmap=report(
            expand(LEARNED_HEATMAP_PNG, split=SPLITS),
            caption="../report/heatmap_learned.rst",
            category="Accuracy",
        ),
        health=report(HEALTH_CSV, caption="../report/health.rst", category="Training"),
        losses=report(LOSS_PNG, caption="../report/losses.rst", category="Training"),
    log:
        "results/logs/report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=retry_runtime(10),
    params:
        replicates=REPLICATES,
        splits=SPLITS,
    script:
        "../scripts/report.py"


# A few seconds of pandas on small CSVs: not worth a cluster job.
localrules:
    study,


rule study:
    input:
        csv=ACCURACY_CSV.format(split=""),
        sd_csv=ACCURACY_SD_CSV.format(split=""),
        learned_csv=LEARNED_CSV.format(split=""),
        learned_sd_csv=LEARNED_SD_CSV.format(split=""),
        health=HEALTH_CSV,
    output:
        text=report(STUDY_TXT, caption="../report/study.rst", category="The study"),
        heatmap=report(STUDY_PNG, caption="../report/study.rst", category="The study"),
    log:
        "results/logs/study.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=1000,
        runtime=retry_runtime(10),
    script:
        "../scripts/study.py"
