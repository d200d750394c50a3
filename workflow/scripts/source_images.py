from mosaicfocus.artifacts import save_artifact
from mosaicfocus.data.sources import load_source
from mosaicfocus.devices import set_threads
from mosaicfocus.provenance import code_lineage
from mosaicfocus.runplan.joblog import job_log

with job_log(snakemake.log[0], "source_images", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    params = snakemake.params.source
    images, labels, classes = load_source(
        params["source"],
        params.get("root"),
        seed=params.get("seed", 0),
        synthetic_per_class=params.get("per_class", 0),
        workers=snakemake.threads,
        images_per_class=params.get("images_per_class"),
        split=params.get("split", "train"),
    )
    log(f"{images.shape[0]} images {list(images.shape[1:])}, classes {classes}")
    save_artifact(
        snakemake.output[0],
        "source",
        {"images": images, "labels": labels},
        meta={"classes": classes, "params": params, "code": code_lineage("source_images", snakemake.params.code)},
    )
