"""What every job asks the scheduler for: memory from what it holds, runtime from the work it does.

The rules (workflow/rules/resources.smk) call these with the sizes of the job's
input files, or, before those exist, the sizes the configuration implies; this
module is the only place the figures live. Memory in MB (10^6 bytes, Snakemake's
``mem_mb``), runtime in minutes. Both grow with the attempt: a job that failed
(killed for memory or time, on a cluster with ``retries``) asks for twice as
much the second time.

Memory is a Python process with torch loaded plus what the job holds at its
peak, each term a multiple of a file it reads or writes; the multiples and the
process size are measured (BENCHMARKS.md, "Scale"), the margin covers what a
measurement on one machine does not see (another allocator, another CPU's
kernels). Runtime is the job's images over a stated rate, times a margin, plus
a fixed start: the rates are below one CPU thread's on this project's AVX-512
machine divided by the 1.5 its AVX2 machines are slower, so a GPU or a faster
CPU finishes well inside them.
"""

from __future__ import annotations

import math

MB = 1_000_000
SOURCE_IMAGE_BYTES = 3 * 32 * 32  # uint8
DATASET_IMAGE_BYTES = 4 * SOURCE_IMAGE_BYTES  # float32, plus an int64 label (below)
MOSAIC_BYTES = (9 + 2) * 8  # source_index [9], foreground_position and label, int64

# --- memory --------------------------------------------------------------------
# A Python process that has imported torch (and, in the rule scripts, the package):
# 540 MB resident on Linux with torch 2.14.1's CPU+CUDA wheels, and up to 670 MB while
# it exits (library code paged in by destructors) in a long-lived .venv; in a freshly
# built one (a CI clone, 2026-12-03) every tiny job peaked at 804-829 MB, and Snakemake's
# benchmark sampled up to 926 MB: 850 MB, so that the margin covers the sample too.
TORCH_PROCESS_MB = 850
# The report, study and sweep rules import pandas and seaborn, not torch: constant in
# the run's size (90 small JSON files per replicate, a few plots; 140 MB measured).
REPORT_MEM_MB = 500
# What a job that uses a GPU holds on the host besides: the CUDA runtime, cuBLAS and cuDNN
# loaded into the process. An estimate, not measured here (no GPU was lent to this
# project's measurements); BENCHMARKS.md says so beside it.
CUDA_HOST_MB = 2000
# Headroom on every measured figure.
MEMORY_MARGIN = 1.25

# What a job holds at its peak, as multiples of its files (measured, BENCHMARKS.md):
SOURCE_DECODE_FACTOR = 4  # JPEG bytes, decoded images and torchvision's numpy copy
TRAIN_DATASET_FACTOR = 2  # the dataset and its copy in the row-phase layout
EVALUATE_DATASET_FACTOR = 1  # one dataset at a time
# The attention job holds its source images twice (as read, and laid out for the step, uint8),
# one dataset at a time for the trajectory, the learned-focus blend it writes, and a step's
# tiles and activations: about 0.25 MB per mosaic forward, as much again backward (the nine
# tiles' conv1 and conv2 outputs dominate; an estimate from the layer sizes), taken as 1 MB.
ATTENTION_SOURCE_FACTOR = 2
ATTENTION_STEP_MB_PER_MOSAIC = 1
# The lock-step job: the nine training datasets and their stacked copy (on a GPU the copy is
# on the device, but the host holds it while filling it), then one scored dataset at a time.
LOCKSTEP_DATASETS_FACTOR = 2

# --- runtime -------------------------------------------------------------------
# Images per second of one CPU thread (forward and backward for training), with what was
# measured on the AVX-512 machine: training 12,500 (two jobs side by side), scoring 35,000,
# blending and writing ~7,000 (a job's two threads: 14,000), decoding JPEGs ~3,500 (7,000).
TRAIN_IMAGES_PER_S = 6_000
SCORE_IMAGES_PER_S = 15_000
BLEND_IMAGES_PER_S = 5_000
DECODE_IMAGES_PER_S = 2_000
DRAW_MOSAICS_PER_S = 500_000  # numpy draws a few integers per mosaic
RUNTIME_MARGIN = 2
START_MINUTES = 5  # Python and torch start, files read and written
DOWNLOAD_MINUTES = 30  # torchvision's CIFAR-10 download (data.source: cifar10)
REPORT_MINUTES = 10


def _memory(held_mb: float, attempt: int) -> int:
    """The process, what it holds, the margin, rounded up to 100 MB; times the attempt."""
    return attempt * 100 * math.ceil((TORCH_PROCESS_MB + held_mb) * MEMORY_MARGIN / 100)


def _runtime(work_s: float, attempt: int, extra_minutes: float = 0) -> int:
    """The start, the work in seconds times the margin, rounded up to whole minutes; times the attempt."""
    return attempt * math.ceil(START_MINUTES + extra_minutes + RUNTIME_MARGIN * work_s / 60)


def source_mb(images: int) -> float:
    """Size of a source-images file of ``images`` images."""
    return images * (SOURCE_IMAGE_BYTES + 8) / MB


def mosaics_mb(count: int) -> float:
    """Size of a mosaics file of ``count`` mosaics (indices, no pixels)."""
    return count * MOSAIC_BYTES / MB


def dataset_mb(images: int) -> float:
    """Size of one dataset file of ``images`` blended images and their labels."""
    return images * (DATASET_IMAGE_BYTES + 8) / MB


def source_images_mem_mb(images: int, attempt: int = 1) -> int:
    return _memory(SOURCE_DECODE_FACTOR * source_mb(images), attempt)


def mosaics_mem_mb(source_file_mb: float, count: int, attempt: int = 1) -> int:
    """The source images (read for their labels) and the drawn indices, with numpy's temporaries."""
    return _memory(source_file_mb + 3 * mosaics_mb(count), attempt)


def datasets_mem_mb(source_file_mb: float, mosaics_file_mb: float, images_per_dataset: int, attempt: int = 1) -> int:
    """The source images, the mosaics and one dataset: each is written before the next is made."""
    return _memory(source_file_mb + mosaics_file_mb + dataset_mb(images_per_dataset), attempt)


def train_mem_mb(dataset_file_mb: float, attempt: int = 1, gpu: bool = False) -> int:
    return _memory(TRAIN_DATASET_FACTOR * dataset_file_mb + (CUDA_HOST_MB if gpu else 0), attempt)


def evaluate_mem_mb(largest_dataset_file_mb: float, attempt: int = 1, gpu: bool = False) -> int:
    return _memory(EVALUATE_DATASET_FACTOR * largest_dataset_file_mb + (CUDA_HOST_MB if gpu else 0), attempt)


def attention_mem_mb(
    source_file_mbs: list[float],
    dataset_file_mb: float,
    learned_file_mb: float,
    batch_size: int,
    attempt: int = 1,
    gpu: bool = False,
) -> int:
    """The attention job: source images of every split twice, one dataset, the learned-focus
    blend, a mini-batch's tiles and activations."""
    held = ATTENTION_SOURCE_FACTOR * sum(source_file_mbs) + dataset_file_mb + learned_file_mb
    held += ATTENTION_STEP_MB_PER_MOSAIC * batch_size
    return _memory(held + (CUDA_HOST_MB if gpu else 0), attempt)


def lockstep_mem_mb(training_files_mb: float, largest_scored_mb: float, attempt: int = 1, gpu: bool = False) -> int:
    """The nine training datasets twice while training, one scored dataset after."""
    held = max(LOCKSTEP_DATASETS_FACTOR * training_files_mb, largest_scored_mb)
    return _memory(held + (CUDA_HOST_MB if gpu else 0), attempt)


def report_mem_mb(attempt: int = 1) -> int:
    return attempt * REPORT_MEM_MB


def source_images_runtime(images: int, download: bool, attempt: int = 1) -> int:
    return _runtime(images / DECODE_IMAGES_PER_S, attempt, DOWNLOAD_MINUTES if download else 0)


def mosaics_runtime(count: int, attempt: int = 1) -> int:
    return _runtime(count / DRAW_MOSAICS_PER_S, attempt)


def datasets_runtime(count: int, attempt: int = 1) -> int:
    """Nine blended datasets of half the mosaics and one of foregrounds: 5 images per mosaic."""
    return _runtime(5 * count / BLEND_IMAGES_PER_S, attempt)


def train_runtime(epochs: int, images: int, last_job: bool, attempt: int = 1) -> int:
    """``epochs`` epochs of ``images`` images (a job's share of a model's training); the
    model's last job also scores its training set once, for the health record."""
    scoring = images / SCORE_IMAGES_PER_S if last_job else 0
    return _runtime(epochs * images / TRAIN_IMAGES_PER_S + scoring, attempt)


def lockstep_runtime(epochs: int, images: int, networks: int, scored_images: int, attempt: int = 1) -> int:
    """``epochs`` epochs of ``networks`` networks on ``images`` images each, then (in the
    last job) ``scored_images`` images scored by each network. At the CPU rates: the job
    is meant for a GPU, but a CPU run must not be killed for being one."""
    work = networks * (epochs * images / TRAIN_IMAGES_PER_S + scored_images / SCORE_IMAGES_PER_S)
    return _runtime(work, attempt)


def evaluate_runtime(images: int, attempt: int = 1) -> int:
    """Scoring ``images`` images in all (the ten datasets of one model)."""
    return _runtime(images / SCORE_IMAGES_PER_S, attempt)


def attention_runtime(
    epochs: int,
    training_mosaics: int,
    trajectory_points: int,
    dataset_images: int,
    scored_mosaics: int,
    attempt: int = 1,
) -> int:
    """Joint training (a mosaic is ten CNN passes: nine tiles and their average), the trajectory's
    scoring of datasets 1..10 (``dataset_images`` in all) at each of its points, and scoring
    ``scored_mosaics`` mosaics (ten images each) with the final weights, with their blend."""
    work = epochs * training_mosaics * 10 / TRAIN_IMAGES_PER_S
    work += trajectory_points * dataset_images / SCORE_IMAGES_PER_S
    work += scored_mosaics * (10 / SCORE_IMAGES_PER_S + 1 / BLEND_IMAGES_PER_S)
    return _runtime(work, attempt)


def report_runtime(attempt: int = 1) -> int:
    return attempt * REPORT_MINUTES
