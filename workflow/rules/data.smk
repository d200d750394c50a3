rule source_images:
    output:
        SOURCE_IMAGES,
    log:
        "results/{point}logs/source_images{split}.log",
    benchmark:
        "results/{point}benchmarks/source_images{split}.tsv"
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
        mosaic_inputs,
    output:
        MOSAICS,
    log:
        "results/{run}logs/mosaics{split}.log",
    benchmark:
        "results/{run}benchmarks/mosaics{split}.tsv"
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
        dataset_inputs,
    output:
        expand(DATASET, dataset=DATASETS, allow_missing=True),
    log:
        "results/{run}logs/datasets{split}.log",
    benchmark:
        "results/{run}benchmarks/datasets{split}.tsv"
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
