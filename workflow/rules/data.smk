rule source_images:
    output:
        SOURCE_IMAGES,
    log:
        "results/logs/source_images.log",
    benchmark:
        "results/benchmarks/source_images.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=retry_runtime(30),
    params:
        source=source_params(),
    script:
        "../scripts/source_images.py"


rule mosaics:
    input:
        SOURCE_IMAGES,
    output:
        MOSAICS,
    log:
        "results/logs/mosaics.log",
    benchmark:
        "results/benchmarks/mosaics.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=2500,
        runtime=retry_runtime(15),
    params:
        mosaics=mosaic_params(),
    script:
        "../scripts/mosaics.py"


rule datasets:
    input:
        MOSAICS,
    output:
        expand(DATASET, dataset=DATASETS),
    log:
        "results/logs/datasets.log",
    benchmark:
        "results/benchmarks/datasets.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=retry_runtime(15),
    script:
        "../scripts/datasets.py"
