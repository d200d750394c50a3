import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import torch

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.datasets import FOCUS_LEVELS, FOREGROUND_DATASET, foregrounds
from mosaicfocus.devices import set_threads
from mosaicfocus.joblog import job_log
from mosaicfocus.weighting import focus_dataset_weighted

with job_log(snakemake.log[0], "datasets") as log:
    set_threads(snakemake.threads)
    mosaics, meta = load_artifact(
        snakemake.input[0],
        "mosaics",
        expect={
            "tiles": ((None, 9, 3, 32, 32), torch.uint8),
            "foreground_position": ((None,), torch.int64),
            "label": ((None,), torch.int64),
        },
    )
    tiles, position, label = mosaics["tiles"], mosaics["foreground_position"], mosaics["label"]
    half = tiles.shape[0] // 2
    base_meta = {
        "source": meta["source"],
        "mosaics": meta["params"],
        "foreground_classes": meta["foreground_classes"],
        "weighting": snakemake.params.weighting,
    }
    weighting = snakemake.params.weighting
    outputs = dict(zip(list(FOCUS_LEVELS) + [FOREGROUND_DATASET], snakemake.output))
    for level in FOCUS_LEVELS:
        images = focus_dataset_weighted(tiles[:half], position[:half], level, weighting)
        save_artifact(
            outputs[level],
            "dataset",
            {"images": images, "labels": label[:half]},
            meta={**base_meta, "dataset": level, "mosaic_range": [0, half]},
        )
        log(f"dataset {level}: focus {level}/9 ({weighting['weighting']}), {images.shape[0]} images")
    images = foregrounds(tiles[half:], position[half:])
    save_artifact(
        outputs[FOREGROUND_DATASET],
        "dataset",
        {"images": images, "labels": label[half:]},
        meta={**base_meta, "dataset": FOREGROUND_DATASET, "mosaic_range": [half, tiles.shape[0]]},
    )
    log(f"dataset {FOREGROUND_DATASET}: foregrounds of mosaics {half}..{tiles.shape[0] - 1}")
