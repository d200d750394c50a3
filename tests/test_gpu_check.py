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


# ---- the checks' verdicts: bounds, numerics, a found sync, the exit code -------------------------------


def test_the_drift_bounds_are_the_ones_the_comment_derives():
    what = gpu_check.drift_bound(
        gpu_check.training_steps(10_000, 2), gpu_check.STUDY, gpu_check.conv1_gradient_sum(), 0.25
    )
    where = gpu_check.drift_bound(
        gpu_check.training_steps(5_120, 1), gpu_check.STUDY, gpu_check.conv1_gradient_sum(tiles=9), 0.2
    )
    assert gpu_check.training_steps(10_000, 2) == 80 and gpu_check.conv1_gradient_sum() == 200_704
    assert what == pytest.approx(2.14e-4, rel=0.01) and where == pytest.approx(1.28e-4, rel=0.01)


@pytest.mark.parametrize(
    "value, passed", [(3.3e-7, True), (1.07e-4, True), (2e-4, False), (float("nan"), False), (float("inf"), False)]
)
def test_a_difference_beyond_the_bound_fails(value, passed):
    lines = []
    verdicts = gpu_check.Verdicts(lines.append)
    assert verdicts.within("2. what network against the CPU", value, 1.07e-4, "max |weight difference|") is passed
    assert lines[0].startswith("PASS" if passed else "FAIL") and "bound 0.00011" in lines[0]
    assert verdicts.exit_code() == (0 if passed else 1)
    assert lines[-1].startswith("gpu_check: PASS" if passed else "gpu_check: FAIL")


def test_numerics_other_than_full_float32_and_deterministic_kernels_fail():
    full = {
        "tf32_switch": "fp32_precision",
        "matmul_fp32_precision": "ieee",
        "conv_fp32_precision": "ieee",
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "deterministic_algorithms": True,
        "cublas_workspace_config": ":4096:8",
    }
    assert gpu_check.numerics_problems(full) == []
    assert gpu_check.numerics_problems({**full, "conv_fp32_precision": "tf32"}) == [
        "conv_fp32_precision is 'tf32', not 'ieee'"
    ]
    older = {"tf32_switch": "allow_tf32", "matmul_allow_tf32": False, "cudnn_allow_tf32": True}
    older.update({k: full[k] for k in list(full)[3:]})
    assert gpu_check.numerics_problems(older) == ["cudnn_allow_tf32 is True, not False"]
    assert gpu_check.numerics_problems({**full, "cublas_workspace_config": None}) == [
        "CUBLAS_WORKSPACE_CONFIG is not set"
    ]


class FailOnConvolution(gpu_check.torch.utils._python_dispatch.TorchDispatchMode):
    """Stands in for sync debug mode 'error' meeting a sync: a RuntimeError inside the epoch."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ == "convolution":
            raise RuntimeError("called a synchronizing CUDA operation")
        return func(*args, **(kwargs or {}))


def test_a_sync_inside_the_epoch_is_reported(small):
    assert gpu_check.sync_found("cpu", small, guard=RefuseDeviceSync()) is None
    assert "synchronizing" in gpu_check.sync_found("cpu", small, guard=FailOnConvolution())


def test_the_where_network_checks_hold_on_the_cpu():
    sources, mosaics = gpu_check.random_mosaics(60, 32)
    bound = gpu_check.drift_bound(1, gpu_check.STUDY, gpu_check.conv1_gradient_sum(tiles=9), 0.2)
    assert 0 <= gpu_check.attention_against_cpu("cpu", sources, mosaics) < bound
    assert gpu_check.attention_repeatable("cpu", sources, mosaics)


def main_with_parts(monkeypatch, **parts) -> int:
    """gpu_check.main on the CPU at --quick size with its parts replaced; its exit status."""
    for name, part in parts.items():
        monkeypatch.setattr(gpu_check, name, part)
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--device", "cpu", "--quick"])
    with pytest.raises(SystemExit) as exit:
        gpu_check.main()
    return exit.value.code


def test_a_failed_check_makes_the_script_exit_non_zero(monkeypatch, capsys):
    exit_code = main_with_parts(
        monkeypatch,
        against_cpu=lambda *args: 1.0,
        repeatable=lambda *args: True,
        resumable=lambda *args: False,
        sync_found=lambda *args: "called a synchronizing CUDA operation",
        ms_per_step=lambda *args, **kwargs: {},
        attention_against_cpu=lambda *args: float("nan"),
        attention_repeatable=lambda *args: True,
    )
    assert exit_code == 1
    out = capsys.readouterr().out
    assert "PASS 3. lock-step repeat" in out and "FAIL 4. lock-step resume" in out
    assert out.splitlines()[-1] == (
        "gpu_check: FAIL: 4 of 6 checks failed: 2. what network against the CPU, 4. lock-step resume, "
        "5. no host sync, 8. where network against the CPU"
    )


def test_a_part_that_raises_fails_and_the_parts_after_it_still_run(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    exit_code = main_with_parts(
        monkeypatch,
        against_cpu=lambda *args: 1e-7,
        repeatable=broken,
        resumable=lambda *args: True,
        sync_found=lambda *args: None,
        ms_per_step=broken,
        attention_against_cpu=lambda *args: 1e-8,
        attention_repeatable=lambda *args: True,
    )
    assert exit_code == 1
    out = capsys.readouterr().out
    assert "FAIL 3. lock-step repeat: raised RuntimeError: CUDA error: an illegal memory access" in out
    assert "PASS 8. where network repeat" in out
    assert out.splitlines()[-1] == ("gpu_check: FAIL: 2 of 7 checks failed: 3. lock-step repeat, 6. step timings")
