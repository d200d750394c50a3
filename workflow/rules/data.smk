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
        mem_mb=source_images_mem,
        runtime=source_images_time,
    params:
        code=code_digest("source_images.py"),
        source=source_params,
    script:
        frozen_script("source_images.py")


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
        mem_mb=mosaics_mem,
        runtime=mosaics_time,
    params:
        code=code_digest("mosaics.py"),
        mosaics=mosaic_params,
    script:
        frozen_script("mosaics.py")


rule datasets:
    input:
        unpack(dataset_inputs),
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
        mem_mb=datasets_mem,
        runtime=datasets_time,
    params:
        code=code_digest("datasets.py"),
        weighting=weighting_params,
    script:
        frozen_script("datasets.py")
