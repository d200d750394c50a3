# What each job asks the scheduler for. The formulas and their measured figures are in
# src/mosaicfocus/resources.py (BENCHMARKS.md, "Scale"); these functions only find
# their arguments: the sizes of the job's input files (once they exist; a dry run
# sees the sizes the configuration implies) and the images the job works through.
import functools
import os
from pathlib import Path

from mosaicfocus import resources
from mosaicfocus.design import scored_images, test_mosaics, training_mosaics
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.layout import image_names, imagefolder_classes


def file_mb(paths, expected_mb):
    """The total size of ``paths`` in MB, or ``expected_mb`` while one is still missing."""
    try:
        return sum(os.path.getsize(path) for path in paths) / resources.MB
    except OSError:
        return expected_mb


@functools.cache
def imagefolder_size(root, split):
    """Images in ``root/split/<class>/``: one listing per class folder, no file opened."""
    try:
        return sum(
            len(image_names(Path(root) / split / name))
            for name in imagefolder_classes(root, split)
        )
    except (OSError, MosaicFocusError):
        return None  # the parse-time checks name the problem


def source_image_count(point, split):
    """Images in the source-images file of a point (train or test split)."""
    data = point_config(point)["data"]
    if data["source"] == "synthetic":
        return 10 * data["synthetic_per_class"]
    if not split and data["images_per_class"] is not None:
        return 10 * data["images_per_class"]
    folder = "test" if split else "train"
    if data["source"] == "imagefolder":
        listed = imagefolder_size(data["root"], folder)
        if listed is not None:
            return listed
    return 10_000 if split else 50_000  # CIFAR-10's test and training splits


def mosaic_count(run, split):
    cfg = run_config(run)
    return cfg["heldout"]["count"] if split else cfg["mosaics"]["count"]


def largest_dataset_images(run, split):
    """Images in dataset 10, the foregrounds of the second half of the mosaics."""
    return test_mosaics(mosaic_count(run, split))


def source_point(wildcards):
    return stage_point(split_run(wildcards.run)[0], "source")


def source_images_mem(wildcards, attempt):
    return resources.source_images_mem_mb(
        source_image_count(wildcards.point, wildcards.split), attempt
    )


def source_images_time(wildcards, attempt):
    download = point_config(wildcards.point)["data"]["source"] == "cifar10"
    images = source_image_count(wildcards.point, wildcards.split)
    return resources.source_images_runtime(images, download, attempt)


def mosaics_mem(wildcards, input, attempt):
    images = source_image_count(source_point(wildcards), wildcards.split)
    source_mb = file_mb([input[0]], resources.source_mb(images))
    return resources.mosaics_mem_mb(
        source_mb, mosaic_count(wildcards.run, wildcards.split), attempt
    )


def mosaics_time(wildcards, attempt):
    return resources.mosaics_runtime(
        mosaic_count(wildcards.run, wildcards.split), attempt
    )


def datasets_mem(wildcards, input, attempt):
    count = mosaic_count(wildcards.run, wildcards.split)
    images = source_image_count(source_point(wildcards), wildcards.split)
    return resources.datasets_mem_mb(
        file_mb([input.source], resources.source_mb(images)),
        file_mb([input.mosaics], resources.mosaics_mb(count)),
        largest_dataset_images(wildcards.run, wildcards.split),
        attempt,
    )


def datasets_time(wildcards, attempt):
    count = mosaic_count(wildcards.run, wildcards.split)
    return resources.datasets_runtime(count, attempt)


def training_images(wildcards):
    return training_mosaics(mosaic_count(wildcards.run, ""))


def train_mem(wildcards, input, attempt):
    expected = resources.dataset_mb(training_images(wildcards))
    return resources.train_mem_mb(
        file_mb([input.dataset], expected), attempt, model_device() == "cuda"
    )


def train_time(wildcards, attempt):
    """This job's epochs (of train.epochs_per_job), then, in the last job, one scoring pass
    of the training set for the model's health record."""
    first, last = training_epochs(wildcards)
    last_job = "epoch" not in wildcards.keys()
    return resources.train_runtime(
        last - first + 1, training_images(wildcards), last_job, attempt
    )


def evaluate_mem(wildcards, input, attempt):
    images = largest_dataset_images(wildcards.run, wildcards.split)
    expected = resources.dataset_mb(images)
    largest = max(file_mb([path], expected) for path in input.datasets)
    return resources.evaluate_mem_mb(largest, attempt, model_device() == "cuda")


def evaluate_time(wildcards, attempt):
    return resources.evaluate_runtime(
        scored_images(mosaic_count(wildcards.run, wildcards.split)), attempt
    )


def lockstep_mem(wildcards, input, attempt):
    expected = resources.dataset_mb(training_images(wildcards))
    training = file_mb(input.datasets, len(FOCUS_LEVELS) * expected)
    largest = max(
        [file_mb([path], expected) for path in input.get("scored", [])], default=0
    )
    return resources.lockstep_mem_mb(
        training, largest, attempt, model_device() == "cuda"
    )


def lockstep_time(wildcards, attempt):
    """The job's epochs of all nine models, then, in the last job, their 90 (or 180) scores."""
    first, last = training_epochs(wildcards)
    scored = 0
    if "epoch" not in wildcards.keys():
        scored = sum(scored_images(mosaic_count(wildcards.run, s)) for s in SPLITS)
    return resources.lockstep_runtime(
        last - first + 1,
        training_images(wildcards),
        len(FOCUS_LEVELS),
        scored,
        attempt,
    )


def report_mem(wildcards, attempt):
    return resources.report_mem_mb(attempt)


def report_time(wildcards, attempt):
    return resources.report_runtime(attempt)
