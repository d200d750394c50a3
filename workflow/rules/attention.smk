# The where network (attention.enabled): a focus network and a what network trained jointly
# per run (replicate), in results/{run}attention/ (mosaicfocus.where_network.attention). It reads the
# source images, the mosaics, the datasets and the nine trained what networks; nothing of
# the what-network experiment reads it, so enabling it, or sweeping its keys (the
# "attention" stage of runs.SWEEPABLE), reruns none of that.


rule attention:
    input:
        unpack(attention_inputs),
    output:
        model=ATTENTION_MODEL,
        record=ATTENTION_RECORD,
        epochs=ATTENTION_EPOCHS,
        focus=ATTENTION_FOCUS,
        trajectory=ATTENTION_TRAJECTORY,
        mosaics=expand(ATTENTION_MOSAICS, split=SPLITS, allow_missing=True),
        learned=expand(LEARNED_FOCUS, split=SPLITS, allow_missing=True),
    log:
        "results/{run}logs/attention.log",
    benchmark:
        "results/{run}benchmarks/attention.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=model_gpus,
        mem_mb=attention_mem,
        runtime=attention_time,
    params:
        code=code_digest("attention.py"),
        seed=attention_seed,
        train=attention_settings,
        schedule=attention_schedule,
        splits=SPLITS,
        device=device_params,
        # The loss of a uniform guess, ln(classes), is what training health measures against.
        classes=len(config["foreground_classes"]),
        batch_size=config["evaluate"]["batch_size"],
    script:
        frozen_script("attention.py")


rule evaluate_attention:
    input:
        unpack(attention_evaluation_inputs),
    output:
        row=expand(ATTENTION_ROW, dataset=DATASETS, allow_missing=True),
        column=expand(ATTENTION_COLUMN, focus=FOCUS_LEVELS, allow_missing=True),
        corner=ATTENTION_CORNER,
    log:
        "results/{run}logs/evaluate_attention{split}.log",
    benchmark:
        "results/{run}benchmarks/evaluate_attention{split}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["evaluate"]["threads"]
    resources:
        gpu=model_gpus,
        mem_mb=attention_evaluate_mem,
        runtime=attention_evaluate_time,
    params:
        code=code_digest("attention_evaluate.py"),
        device=device_params,
        batch_size=config["evaluate"]["batch_size"],
    script:
        frozen_script("attention_evaluate.py")


rule attention_report:
    input:
        unpack(attention_report_inputs),
    output:
        focus=report(
            ATTENTION_FOCUS_CSV,
            caption="../report/attention.rst",
            category="Attention",
        ),
        matrix=report(
            expand(ATTENTION_MATRIX_CSV, split=SPLITS, allow_missing=True),
            caption="../report/attention.rst",
            category="Attention",
        ),
        matrix_sd=expand(ATTENTION_MATRIX_SD_CSV, split=SPLITS, allow_missing=True),
        heatmap=report(
            expand(ATTENTION_HEATMAP_PNG, split=SPLITS, allow_missing=True),
            caption="../report/attention.rst",
            category="Attention",
        ),
        alphas=report(
            ATTENTION_ALPHAS_PNG,
            caption="../report/attention.rst",
            category="Attention",
        ),
        trajectory=report(
            ATTENTION_TRAJECTORY_PNG,
            caption="../report/attention.rst",
            category="Attention",
        ),
        run_json=ATTENTION_RUN_JSON,
        run_txt=report(
            ATTENTION_RUN_TXT,
            caption="../report/attention_run.rst",
            category="Attention",
        ),
    log:
        "results/{point}logs/attention_report.log",
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=report_mem,
        runtime=report_time,
    params:
        code=code_digest("attention_report.py"),
        replicates=REPLICATES,
        splits=SPLITS,
        labels=attention_report_labels,
    script:
        frozen_script("attention_report.py")
