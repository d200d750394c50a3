rule train:
    input:
        DATASET.replace("{split}", "").replace("{dataset}", "{focus}"),
    output:
        model=MODEL,
        loss=LOSS,
    log:
        "results/{rep}logs/train_{focus}.log",
    benchmark:
        "results/{rep}benchmarks/train_{focus}.tsv"
    # On a cluster, training and the ten evaluations of its model are one job.
    group:
        "model"
    conda:
        "../../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1 if uses_gpu() else 0,
        mem_mb=1500,
        runtime=retry_runtime(120),
    params:
        train=train_params,
    script:
        "../scripts/train.py"
