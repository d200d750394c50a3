# Paths, params and resources of the where network's rules (attention.smk).
# The where network (attention.enabled): a focus network and a what network trained
# jointly per run (replicate), in results/{run}attention/ (mosaicfocus.attention).
# It reads the source images, the mosaics, the datasets and the nine trained what
# networks; nothing of the what-network experiment reads it, so enabling it, or
# sweeping its keys (runs.SWEEPABLE: the "attention" stage), reruns none of that.

from mosaicfocus.paths import (
    ATTENTION_ALPHAS_PNG,
    ATTENTION_COLUMN,
    ATTENTION_CORNER,
    ATTENTION_EPOCHS,
    ATTENTION_FOCUS,
    ATTENTION_FOCUS_CSV,
    ATTENTION_HEATMAP_PNG,
    ATTENTION_MATRIX_CSV,
    ATTENTION_MATRIX_SD_CSV,
    ATTENTION_MODEL,
    ATTENTION_MOSAICS,
    ATTENTION_RECORD,
    ATTENTION_ROW,
    ATTENTION_TRAJECTORY,
    ATTENTION_TRAJECTORY_PNG,
    LEARNED_FOCUS,
)

ATTENTION = config["attention"]["enabled"]


def attention_seed(wildcards):
    """The joint model's seed, from the replicate's as the what networks' are."""
    return derive_seed(replicate_seed(wildcards.run), "attention")


def attention_settings(wildcards):
    """train.* unless attention.* overrides it."""
    cfg = run_config(wildcards.run)
    att = cfg["attention"]
    return {
        "outputs": cfg["model"]["outputs"],
        **{
            key: cfg["train"][key] if att[key] is None else att[key]
            for key in ("lr", "momentum", "batch_size", "restarts")
        },
    }


def attention_schedule(wildcards):
    att = run_config(wildcards.run)["attention"]
    return {"epochs": att["epochs"], "trajectory_every": att["trajectory_every"]}


def attention_inputs(wildcards):
    """Source images and mosaics of every split, and the training split's datasets (trajectory)."""
    run = wildcards.run
    source = stage_point(split_run(run)[0], "source")
    return {
        "sources": expand(SOURCE_IMAGES, point=source, split=SPLITS),
        "mosaics": expand(MOSAICS, run=stage_run(run, "mosaics"), split=SPLITS),
        "datasets": expand(
            DATASET, run=stage_run(run, "datasets"), split="", dataset=DATASETS
        ),
    }


def attention_evaluation_inputs(wildcards):
    run, split = wildcards.run, wildcards.split
    models = stage_run(run, "train")
    return {
        "model": ATTENTION_MODEL.format(run=run),
        "record": ATTENTION_RECORD.format(run=run),
        "datasets": expand(
            DATASET, run=stage_run(run, "datasets"), split=split, dataset=DATASETS
        ),
        "learned": LEARNED_FOCUS.format(run=run, split=split),
        "models": expand(MODEL, run=models, focus=FOCUS_LEVELS),
        "records": expand(MODEL_RECORD, run=models, focus=FOCUS_LEVELS),
    }


def attention_report_inputs(wildcards):
    """Replicate by replicate, split by split (scripts/attention_report.py relies on it)."""
    runs = point_runs(wildcards.point)
    return {
        "focus": expand(ATTENTION_FOCUS, run=runs),
        "epochs": expand(ATTENTION_EPOCHS, run=runs),
        "trajectory": expand(ATTENTION_TRAJECTORY, run=runs),
        "mosaics": expand(ATTENTION_MOSAICS, run=runs, split=SPLITS),
        "rows": expand(ATTENTION_ROW, run=runs, split=SPLITS, dataset=DATASETS),
        "columns": expand(ATTENTION_COLUMN, run=runs, split=SPLITS, focus=FOCUS_LEVELS),
        "corners": expand(ATTENTION_CORNER, run=runs, split=SPLITS),
        "matrices": expand(
            REPLICATE_MATRIX.replace("{run}", "{point}{rep}"),
            point=wildcards.point,
            rep=[replicate_prefix(r) for r in REPLICATES],
            split=SPLITS,
        ),
    }


def attention_outputs(point):
    """What rule all asks of one grid point when attention is enabled."""
    if not ATTENTION:
        return []
    return [
        *expand(
            [ATTENTION_MATRIX_CSV, ATTENTION_HEATMAP_PNG], point=point, split=SPLITS
        ),
        *expand(
            [ATTENTION_FOCUS_CSV, ATTENTION_ALPHAS_PNG, ATTENTION_TRAJECTORY_PNG],
            point=point,
        ),
    ]


def attention_mem(wildcards, input, attempt):
    run = wildcards.run
    sources = [
        file_mb(
            [path],
            resources.source_mb(source_image_count(source_point(wildcards), split)),
        )
        for path, split in zip(input.sources, SPLITS)
    ]
    largest_test_half = max(largest_dataset_images(run, split) for split in SPLITS)
    return resources.attention_mem_mb(
        sources,
        resources.dataset_mb(largest_dataset_images(run, "")),
        resources.dataset_mb(largest_test_half),
        max(
            attention_settings(wildcards)["batch_size"],
            config["evaluate"]["batch_size"],
        ),
        attempt,
        model_device() == "cuda",
    )


def attention_time(wildcards, attempt):
    """Training, the trajectory's points (every trajectory_every epochs and the last), and the
    final scoring of the training mosaics and every split's test half."""
    run = wildcards.run
    att = run_config(run)["attention"]
    count = mosaic_count(run, "")
    return resources.attention_runtime(
        att["epochs"],
        training_mosaics(count),
        att["epochs"] // att["trajectory_every"] + 1,
        scored_images(count),
        training_mosaics(count)
        + sum(largest_dataset_images(run, split) for split in SPLITS),
        attempt,
    )


def attention_evaluate_mem(wildcards, input, attempt):
    images = largest_dataset_images(wildcards.run, wildcards.split)
    expected = resources.dataset_mb(images)
    largest = max(file_mb([path], expected) for path in input.datasets)
    return resources.evaluate_mem_mb(largest, attempt, model_device() == "cuda")


def attention_evaluate_time(wildcards, attempt):
    """Ten datasets for the row, ten models on one for the column and its corner."""
    count = mosaic_count(wildcards.run, wildcards.split)
    return resources.evaluate_runtime(
        scored_images(count) + 10 * training_mosaics(count), attempt
    )
