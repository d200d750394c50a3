"""bench/gpu_check.py's parts that run anywhere, on the CPU and small: they must work before a GPU is lent."""

import sys

import pytest
from conftest import REPO
from test_lockstep import RefuseDeviceSync

sys.path.insert(0, str(REPO / "bench"))
import gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def small():
    return gpu_check.random_datasets(3, 300)


def test_the_cpu_against_itself_differs_by_the_row_phased_rounding_alone(small):
    # train_epochs on the CPU uses row phases; the reference is the direct form: float32 rounding apart.
    assert 0 < gpu_check.against_cpu("cpu", small[0], epochs=1) < 1e-4


def test_repeat_and_resume_checks_hold_on_the_cpu(small):
    assert gpu_check.repeatable("cpu", small, epochs=2)
    assert gpu_check.resumable("cpu", small, epochs=2)


def test_same_bits_tells_different_runs_apart(small):
    a = gpu_check.train_lockstep(small, gpu_check.STUDY, [0, 1, 2], 1)
    b = gpu_check.train_lockstep(small, gpu_check.STUDY, [0, 1, 5], 1)
    assert gpu_check.same_bits(a, a) and not gpu_check.same_bits(a, b)


def test_the_sync_check_runs_a_whole_epoch_without_a_device_sync(small):
    assert gpu_check.epoch_without_sync("cpu", small, guard=RefuseDeviceSync())


def test_step_timings_cover_both_trainers(small):
    times = gpu_check.ms_per_step("cpu", small, steps=2)
    assert set(times) == {"per-model loop, one network", "lock-step, 3 networks"}
    assert all(ms > 0 for ms in times.values())


def test_the_experiment_timing_trains_and_scores_every_pair():
    datasets = gpu_check.random_datasets(10, 64)
    trained, scored, diagonal = gpu_check.experiment_seconds("cpu", datasets, epochs=1)
    assert trained > 0 and scored > 0 and len(diagonal) == gpu_check.NETWORKS
    assert all(0 <= d <= 100 for d in diagonal)
