rule report:
    input:
        unpack(report_inputs),
    output:
        replicate_matrices=[
            REPLICATE_MATRIX.format(run="{point}" + replicate_prefix(r), split=s)
            for r, s in PLAN.replicate_splits()
        ],
        csv=report(
            expand(ACCURACY_CSV, split=SPLITS, allow_missing=True),
            caption="../report/accuracy_csv.rst",
            category="Accuracy",
        ),
        sd_csv=report(
            expand(ACCURACY_SD_CSV, split=SPLITS, allow_missing=True),
            caption="../report/accuracy_sd_csv.rst",
            category="Accuracy",
        ),
        learned_csv=report(
            expand(LEARNED_CSV, split=SPLITS, allow_missing=True),
            caption="../report/accuracy_learned_csv.rst",
            category="Accuracy",
        ),
        learned_sd_csv=expand(LEARNED_SD_CSV, split=SPLITS, allow_missing=True),
        heatmap=report(
            expand(HEATMAP_PNG, split=SPLITS, allow_missing=True),
            caption="../report/heatmap.rst",
            category="Accuracy",
        ),
        learned_heatmap=report(
            expand(LEARNED_HEATMAP_PNG, split=SPLITS, allow_missing=True),
            caption="../report/heatmap_learned.rst",
            category="Accuracy",
        ),
        health=report(HEALTH_CSV, caption="../report/health.rst", category="Training"),
        run_json=RUN_JSON,
        run_txt=report(RUN_TXT, caption="../report/run.rst", category="Run"),
        losses=report(LOSS_PNG, caption="../report/losses.rst", category="Training"),
    log:
        "results/{point}logs/report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=report_mem,
        runtime=report_time,
    params:
        code=code_digest("report.py"),
        replicates=REPLICATES,
        splits=SPLITS,
        labels=report_labels,
        replicate_splits=PLAN.replicate_splits(),
    script:
        frozen_script("report.py")


# A few seconds of pandas on small CSVs: not worth a cluster job.
localrules:
    study,
    sweep,


rule study:
    input:
        csv=ACCURACY_CSV.replace("{split}", ""),
        sd_csv=ACCURACY_SD_CSV.replace("{split}", ""),
        learned_csv=LEARNED_CSV.replace("{split}", ""),
        learned_sd_csv=LEARNED_SD_CSV.replace("{split}", ""),
        health=HEALTH_CSV,
        run=RUN_JSON,
    output:
        text=report(STUDY_TXT, caption="../report/study.rst", category="The study"),
        heatmap=report(STUDY_PNG, caption="../report/study.rst", category="The study"),
    log:
        "results/{point}logs/study.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=report_mem,
        runtime=report_time,
    params:
        code=code_digest("study.py"),
        # Whether the published tables apply: the point's data and design.
        design=by_wildcards(PLAN.study_design),
    script:
        frozen_script("study.py")


rule sweep:
    input:
        **paths_of(PLAN.sweep_files()),
    output:
        csv=report(SWEEP_CSV, caption="../report/sweep.rst", category="Sweep"),
        heatmaps=report(
            SWEEP_HEATMAPS_PNG, caption="../report/sweep.rst", category="Sweep"
        ),
        summaries=report(
            expand(SWEEP_SUMMARY_PNG, key=list(SWEEP)),
            caption="../report/sweep_summary.rst",
            category="Sweep",
        ),
        runs_json=SWEEP_RUNS_JSON,
        runs_txt=report(
            SWEEP_RUNS_TXT, caption="../report/sweep_runs.rst", category="Sweep"
        ),
    log:
        "results/sweep/logs/sweep.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=report_mem,
        runtime=report_time,
    params:
        code=code_digest("sweep.py"),
        sweep=SWEEP,
        labels=labels_of(PLAN.sweep_files()),
    script:
        frozen_script("sweep.py")
