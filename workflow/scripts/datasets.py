from mosaicfocus.artifacts import save_artifact
from mosaicfocus.data.datasets import FOCUS_LEVELS, FOREGROUND_DATASET, foregrounds
from mosaicfocus.data.design import training_mosaics
from mosaicfocus.data.mosaics import load_mosaics
from mosaicfocus.data.weighting import focus_dataset_weighted
from mosaicfocus.devices import set_threads
from mosaicfocus.provenance import code_lineage
from mosaicfocus.runplan.joblog import job_log

with job_log(snakemake.log[0], "datasets", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    images, mosaics, meta = load_mosaics(snakemake.input.mosaics, snakemake.input.source)
    index, position, label = mosaics["source_index"], mosaics["foreground_position"], mosaics["label"]
    count = index.shape[0]
    half = training_mosaics(count)
    base_meta = {
        "source": meta["source"],
        "mosaics": meta["params"],
        "foreground_classes": meta["foreground_classes"],
        "weighting": snakemake.params.weighting,
        "code": code_lineage("datasets", snakemake.params.code, meta.get("code")),
    }
    weighting = snakemake.params.weighting
    outputs = dict(zip(list(FOCUS_LEVELS) + [FOREGROUND_DATASET], snakemake.output))
    # One dataset at a time: each is written and dropped before the next is blended.
    for level in FOCUS_LEVELS:
        blended = focus_dataset_weighted(images, index[:half], position[:half], level, weighting)
        save_artifact(
            outputs[level],
            "dataset",
            {"images": blended, "labels": label[:half]},
            meta={**base_meta, "dataset": level, "mosaic_range": [0, half]},
        )
        log(f"dataset {level}: focus {level}/9 ({weighting['weighting']}), {blended.shape[0]} images")
        del blended
    save_artifact(
        outputs[FOREGROUND_DATASET],
        "dataset",
        {"images": foregrounds(images, index[half:], position[half:]), "labels": label[half:]},
        meta={**base_meta, "dataset": FOREGROUND_DATASET, "mosaic_range": [half, count]},
    )
    log(f"dataset {FOREGROUND_DATASET}: foregrounds of mosaics {half}..{count - 1}")
