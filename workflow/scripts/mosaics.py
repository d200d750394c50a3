import torch

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.data.mosaics import draw_mosaics
from mosaicfocus.data.sources import class_indices
from mosaicfocus.provenance import code_lineage
from mosaicfocus.runplan.joblog import job_log

with job_log(snakemake.log[0], "mosaics", declared=snakemake.resources) as log:
    params = snakemake.params.mosaics
    source, meta = load_artifact(
        snakemake.input[0],
        "source",
        expect={"images": ((None, 3, 32, 32), torch.uint8), "labels": ((None,), torch.int64)},
    )
    classes = meta["classes"]
    foreground = class_indices(params["foreground_classes"], classes, "foreground_classes")
    background = class_indices(params["background_classes"], classes, "background_classes")
    drawn = draw_mosaics(source["labels"], foreground, background, params["count"], params["seed"])
    count, tiles = drawn["source_index"].shape
    log(f"{count} mosaics of {tiles} tiles; labels {torch.bincount(drawn['label']).tolist()}")
    # Indices only: the datasets job gathers each tile from the source images as it blends.
    save_artifact(
        snakemake.output[0],
        "mosaics",
        drawn,
        meta={
            "params": params,
            "foreground_classes": params["foreground_classes"],
            "source": meta["params"],
            "code": code_lineage("mosaics", snakemake.params.code, meta.get("code")),
        },
    )
