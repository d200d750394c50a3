# What each job asks the scheduler for. The formulas and their measured figures are in
# src/mosaicfocus/runplan/resources.py (BENCHMARKS.md, "Scale"); these functions only pass them
# the sizes of the job's input files (once they exist; a dry run sees the sizes the
# configuration implies), the images the job works through (the plan's), and the attempt.
import os

from mosaicfocus.runplan import resources
from mosaicfocus.data.design import scored_images, training_mosaics


def file_mb(paths, expected_mb):
    """The total size of ``paths`` in MB, or ``expected_mb`` while one is still missing."""
    try:
        return sum(os.path.getsize(path) for path in paths) / resources.MB
    except OSError:
        return expected_mb


def on_gpu():
    return model_device() == "cuda"


def source_mb(path, point, split):
    return file_mb([path], resources.source_mb(PLAN.source_image_count(point, split)))


def training_images(wildcards):
    return training_mosaics(PLAN.mosaic_count(wildcards.run, ""))


def largest_input_mb(paths, run, split):
    """The largest of a job's datasets (dataset 10, the test half's foregrounds)."""
    expected = resources.dataset_mb(PLAN.largest_dataset_images(run, split))
    return max(file_mb([path], expected) for path in paths)


def source_images_mem(wildcards, attempt):
    images = PLAN.source_image_count(wildcards.point, wildcards.split)
    return resources.source_images_mem_mb(images, attempt)


def source_images_time(wildcards, attempt):
    download = PLAN.point_config(wildcards.point)["data"]["source"] == "cifar10"
    images = PLAN.source_image_count(wildcards.point, wildcards.split)
    return resources.source_images_runtime(images, download, attempt)


def mosaics_mem(wildcards, input, attempt):
    return resources.mosaics_mem_mb(
        source_mb(input[0], PLAN.source_point(wildcards.run), wildcards.split),
        PLAN.mosaic_count(wildcards.run, wildcards.split),
        attempt,
    )


def mosaics_time(wildcards, attempt):
    count = PLAN.mosaic_count(wildcards.run, wildcards.split)
    return resources.mosaics_runtime(count, attempt)


def datasets_mem(wildcards, input, attempt):
    run, split = wildcards.run, wildcards.split
    return resources.datasets_mem_mb(
        source_mb(input.source, PLAN.source_point(wildcards.run), split),
        file_mb([input.mosaics], resources.mosaics_mb(PLAN.mosaic_count(run, split))),
        PLAN.largest_dataset_images(run, split),
        attempt,
    )


def datasets_time(wildcards, attempt):
    count = PLAN.mosaic_count(wildcards.run, wildcards.split)
    return resources.datasets_runtime(count, attempt)


def train_mem(wildcards, input, attempt):
    expected = resources.dataset_mb(training_images(wildcards))
    return resources.train_mem_mb(file_mb([input.dataset], expected), attempt, on_gpu())


def train_time(wildcards, attempt):
    """This job's epochs (of train.epochs_per_job), then, in the last job, one scoring pass
    of the training set for the model's health record."""
    first, last = training_epochs(wildcards)
    last_job = "epoch" not in wildcards.keys()
    return resources.train_runtime(
        last - first + 1, training_images(wildcards), last_job, attempt
    )


def evaluate_mem(wildcards, input, attempt):
    largest = largest_input_mb(input.datasets, wildcards.run, wildcards.split)
    return resources.evaluate_mem_mb(largest, attempt, on_gpu())


def evaluate_time(wildcards, attempt):
    count = PLAN.mosaic_count(wildcards.run, wildcards.split)
    return resources.evaluate_runtime(scored_images(count), attempt)


def lockstep_mem(wildcards, input, attempt):
    expected = resources.dataset_mb(training_images(wildcards))
    training = file_mb(input.datasets, len(FOCUS_LEVELS) * expected)
    largest = max(
        [file_mb([path], expected) for path in input.get("scored", [])], default=0
    )
    return resources.lockstep_mem_mb(training, largest, attempt, on_gpu())


def lockstep_time(wildcards, attempt):
    """The job's epochs of all nine models, then, in the last job, their 90 (or 180) scores."""
    first, last = training_epochs(wildcards)
    scored = 0
    if "epoch" not in wildcards.keys():
        counts = [PLAN.mosaic_count(wildcards.run, split) for split in SPLITS]
        scored = sum(scored_images(count) for count in counts)
    return resources.lockstep_runtime(
        last - first + 1,
        training_images(wildcards),
        len(FOCUS_LEVELS),
        scored,
        attempt,
    )


def attention_mem(wildcards, input, attempt):
    run = wildcards.run
    sources = [
        source_mb(path, PLAN.source_point(wildcards.run), split)
        for path, split in zip(input.sources, SPLITS)
    ]
    largest_test_half = max(PLAN.largest_dataset_images(run, s) for s in SPLITS)
    return resources.attention_mem_mb(
        sources,
        resources.dataset_mb(PLAN.largest_dataset_images(run, "")),
        resources.dataset_mb(largest_test_half),
        max(
            attention_settings(wildcards)["batch_size"],
            config["evaluate"]["batch_size"],
        ),
        attempt,
        on_gpu(),
    )


def attention_time(wildcards, attempt):
    """Training, the trajectory's points (every trajectory_every epochs and the last), and the
    final scoring of the training mosaics and every split's test half."""
    run = wildcards.run
    attention = PLAN.run_config(run)["attention"]
    count = PLAN.mosaic_count(run, "")
    return resources.attention_runtime(
        attention["epochs"],
        training_mosaics(count),
        attention["epochs"] // attention["trajectory_every"] + 1,
        scored_images(count),
        training_mosaics(count)
        + sum(PLAN.largest_dataset_images(run, split) for split in SPLITS),
        attempt,
    )


def attention_evaluate_mem(wildcards, input, attempt):
    largest = largest_input_mb(input.datasets, wildcards.run, wildcards.split)
    return resources.evaluate_mem_mb(largest, attempt, on_gpu())


def attention_evaluate_time(wildcards, attempt):
    """Ten datasets for the row, ten models on one for the column and its corner."""
    count = PLAN.mosaic_count(wildcards.run, wildcards.split)
    return resources.evaluate_runtime(
        scored_images(count) + 10 * training_mosaics(count), attempt
    )


def report_mem(wildcards, attempt):
    return resources.report_mem_mb(attempt)


def report_time(wildcards, attempt):
    return resources.report_runtime(attempt)
