rule evaluate:
    input:
        model=MODEL,
        record=MODEL_RECORD,
        datasets=evaluation_datasets,
    output:
        expand(EVALUATION, dataset=DATASETS, allow_missing=True),
    log:
        "results/{run}logs/evaluate{split}_{focus}.log",
    benchmark:
        "results/{run}benchmarks/evaluate{split}_{focus}.tsv"
    # On a cluster, training and the ten evaluations of its model are one job.
    group:
        "model"
    conda:
        "../../envs/torch.yaml"
    threads: config["evaluate"]["threads"]
    resources:
        gpu=model_gpus,
        mem_mb=evaluate_mem,
        runtime=evaluate_time,
    params:
        code=code_digest("evaluate.py"),
        device=device_params,
        batch_size=config["evaluate"]["batch_size"],
    script:
        frozen_script("evaluate.py")
