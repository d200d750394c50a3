rule evaluate:
    input:
        model=MODEL,
        datasets=expand(DATASET, dataset=DATASETS),
    output:
        expand(EVALUATION, dataset=DATASETS, allow_missing=True),
    log:
        "results/logs/evaluate_{focus}.log",
    benchmark:
        "results/benchmarks/evaluate_{focus}.tsv"
    # On a cluster, training and the ten evaluations of its model are one job.
    group:
        "model"
    conda:
        "../../envs/torch.yaml"
    threads: config["evaluate"]["threads"]
    resources:
        gpu=1 if uses_gpu() else 0,
        mem_mb=2500,
        runtime=retry_runtime(20),
    params:
        device=config["device"],
        batch_size=config["evaluate"]["batch_size"],
    script:
        "../scripts/evaluate.py"
