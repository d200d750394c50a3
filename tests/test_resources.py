"""What jobs ask the scheduler for: the formulas, and the workflow using them."""

import re

import pytest
from conftest import snakemake

from mosaicfocus.runplan import resources


def test_memory_grows_with_what_a_job_holds_and_with_the_attempt():
    small, large = resources.dataset_mb(10_000), resources.dataset_mb(100_000)
    assert large == pytest.approx(10 * small)
    assert small == pytest.approx(10_000 * (4 * 3 * 32 * 32 + 8) / 1e6)
    # Training holds the dataset and its row-phase copy; evaluation one dataset at a time.
    assert resources.train_mem_mb(large) - resources.train_mem_mb(small) == pytest.approx(
        2 * resources.MEMORY_MARGIN * (large - small), abs=100
    )
    assert resources.evaluate_mem_mb(large) - resources.evaluate_mem_mb(small) == pytest.approx(
        resources.MEMORY_MARGIN * (large - small), abs=100
    )
    assert resources.train_mem_mb(small, attempt=2) == 2 * resources.train_mem_mb(small)
    assert all(value % 100 == 0 for value in (resources.train_mem_mb(small), resources.datasets_mem_mb(1, 2, 3)))
    # A GPU job also holds the CUDA libraries on the host.
    assert resources.train_mem_mb(small, gpu=True) >= resources.train_mem_mb(small) + resources.CUDA_HOST_MB
    # The report's does not depend on the run's size.
    assert resources.report_mem_mb() == resources.REPORT_MEM_MB


def test_runtime_is_the_work_at_the_stated_rate_with_its_margin():
    # 200 epochs of 10,000 images at 6,000 images/s, twice over: 667 s = 11.1 min, plus the start.
    assert resources.train_runtime(200, 10_000, last_job=False) == resources.START_MINUTES + 12
    assert resources.train_runtime(100, 10_000, last_job=False) == resources.START_MINUTES + 6
    assert resources.train_runtime(200, 100_000, last_job=False, attempt=2) == 2 * (resources.START_MINUTES + 112)
    assert resources.evaluate_runtime(10 * 100_000) == resources.START_MINUTES + 3
    assert resources.source_images_runtime(50_000, download=True) > resources.source_images_runtime(50_000, False)


def declared(output: str, rule: str) -> list[dict[str, int]]:
    """mem_mb and runtime of every job of ``rule`` in a (dry) run's output."""
    found = []
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", output):
        if re.match(rf"(?:local)?rule {rule}:", block.strip()):
            values = dict(re.findall(r"\b(mem_mb|runtime)=(\d+)", block))
            found.append({key: int(value) for key, value in values.items()})
    return found


def test_a_dry_run_at_ten_times_the_mosaics_declares_what_the_files_will_need(tmp_path):
    """Before the files exist, their sizes come from the configuration."""
    result = snakemake(tmp_path, "-n", "--config", "mosaics={count: 200000}", "train={epochs: 200}")
    output = result.stdout + result.stderr
    memory = resources.train_mem_mb(resources.dataset_mb(100_000))
    # Two jobs of train.epochs_per_job = 100 epochs per model; the last one also scores the training set.
    assert (
        declared(output, "train_chunk")
        == [{"mem_mb": memory, "runtime": resources.train_runtime(100, 100_000, last_job=False)}] * 9
    )
    assert (
        declared(output, "train")
        == [{"mem_mb": memory, "runtime": resources.train_runtime(100, 100_000, last_job=True)}] * 9
    )
    [datasets] = declared(output, "datasets")
    assert datasets["mem_mb"] == resources.datasets_mem_mb(
        resources.source_mb(600), resources.mosaics_mb(200_000), 100_000
    )
    assert declared(output, "evaluate")[0]["mem_mb"] == resources.evaluate_mem_mb(resources.dataset_mb(100_000))


def test_an_image_folder_declares_memory_for_the_images_it_holds(tmp_path, cifar_slice):
    """The source-images job of an image folder is sized by listing the folder (120 per class here)."""
    result = snakemake(
        tmp_path, "-n", "--config", f"data={{source: imagefolder, root: {cifar_slice}}}", "mosaics={count: 600}"
    )
    [source] = declared(result.stdout + result.stderr, "source_images")
    assert source["mem_mb"] == resources.source_images_mem_mb(1200)
    assert source["mem_mb"] < resources.source_images_mem_mb(50_000)
