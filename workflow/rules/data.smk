rule source_images:
    output:
        SOURCE_IMAGES,
    log:
        "results/logs/source_images{split}.log",
    benchmark:
        "results/benchmarks/source_images{split}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=retry_runtime(30),
    params:
        source=source_params,
    script:
        "../scripts/source_images.py"


rule mosaics:
    input:
        SOURCE_IMAGES,
    output:
        MOSAICS,
    log:
        "results/{rep}logs/mosaics{split}.log",
    benchmark:
        "results/{rep}benchmarks/mosaics{split}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=2500,
        runtime=retry_runtime(15),
    params:
        mosaics=mosaic_params,
    script:
        "../scripts/mosaics.py"


rule datasets:
    input:
        MOSAICS,
    output:
        expand(DATASET, dataset=DATASETS, allow_missing=True),
    log:
        "results/{rep}logs/datasets{split}.log",
    benchmark:
        "results/{rep}benchmarks/datasets{split}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=retry_runtime(15),
    params:
        weighting=weighting_params,
    script:
        "../scripts/datasets.py"
