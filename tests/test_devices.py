"""The device policy on CUDA, with the GPU mocked: numerics set and read back, provenance fields."""

from types import SimpleNamespace

import pytest
import torch

from mosaicfocus import devices


@pytest.fixture
def restore_numerics():
    saved = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
    )
    yield
    matmul, conv, deterministic, benchmark, algorithms = saved
    torch.backends.cuda.matmul.fp32_precision = matmul
    torch.backends.cudnn.conv.fp32_precision = conv
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, benchmark
    torch.use_deterministic_algorithms(algorithms)


@pytest.fixture
def mocked_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index: (9, 0))
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91300)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)


@pytest.mark.parametrize("tf32, precision", [(False, "ieee"), (True, "tf32")])
def test_cuda_runs_in_full_float32_and_deterministic_unless_tf32_is_asked(
    tf32, precision, mocked_gpu, restore_numerics
):
    assert devices.prepare_device("cuda", tf32=tf32) == torch.device("cuda")
    assert devices.cuda_numerics() == {
        "tf32_switch": "fp32_precision",
        "matmul_fp32_precision": precision,
        "conv_fp32_precision": precision,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "deterministic_algorithms": True,
        "cublas_workspace_config": devices.CUBLAS_WORKSPACE,
    }


def test_auto_takes_the_gpu_torch_can_use_and_sets_its_numerics(mocked_gpu, restore_numerics):
    assert devices.prepare_device("auto") == torch.device("cuda")
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"  # torch 2.14's default is tf32


def test_the_cpu_path_leaves_cuda_numerics_alone(restore_numerics):
    before = devices.cuda_numerics()
    assert devices.prepare_device("cpu") == torch.device("cpu")
    assert devices.cuda_numerics() == before


def test_a_cuda_record_names_the_gpu_its_software_and_numerics(mocked_gpu, restore_numerics, tmp_path, monkeypatch):
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.06  Wed Feb 26 2025\nGCC version: 12\n")
    read_driver = devices.nvidia_driver_version
    monkeypatch.setattr(devices, "nvidia_driver_version", lambda: read_driver(proc))
    devices.prepare_device("cuda")
    record = devices.device_record(torch.device("cuda"))
    assert record["type"] == "cuda" and record["name"] == "NVIDIA H200" and record["capability"] == "9.0"
    assert record["cuda"] == torch.version.cuda and record["cudnn"] == 91300 and record["torch"] == torch.__version__
    assert record["driver"] == "570.124.06"
    assert record["numerics"]["conv_fp32_precision"] == "ieee" and record["numerics"]["deterministic_algorithms"]


def test_a_cpu_record_names_the_processor_and_its_kernels():
    record = devices.device_record(torch.device("cpu"))
    assert record["type"] == "cpu" and record["capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["processor"] and record["threads"] == torch.get_num_threads()


@pytest.fixture
def torch_without_fp32_precision(monkeypatch):
    """A torch older than 2.9 as devices.py sees it: no ``fp32_precision`` on cuBLAS's module and no
    ``cudnn.conv``, only the ``allow_tf32`` flags (stand-ins, so torch's own flags stay untouched)."""
    matmul = SimpleNamespace(allow_tf32=True)
    cudnn = SimpleNamespace(allow_tf32=True, deterministic=False, benchmark=True, version=lambda: 8900)
    monkeypatch.setattr(torch.backends.cuda, "matmul", matmul)
    monkeypatch.setattr(torch.backends, "cudnn", cudnn)
    return matmul, cudnn


def test_the_pinned_torch_has_the_fp32_precision_switches():
    assert devices.tf32_switch() == "fp32_precision"


@pytest.mark.parametrize("tf32", [False, True])
def test_a_torch_without_fp32_precision_gets_the_allow_tf32_flags_and_says_so(
    tf32, restore_numerics, mocked_gpu, torch_without_fp32_precision
):
    matmul, cudnn = torch_without_fp32_precision
    assert devices.tf32_switch() == "allow_tf32"
    devices.prepare_device("cuda", tf32=tf32)
    assert matmul.allow_tf32 is tf32 and cudnn.allow_tf32 is tf32
    assert cudnn.deterministic is True and cudnn.benchmark is False
    assert devices.cuda_numerics() == {
        "tf32_switch": "allow_tf32",
        "matmul_allow_tf32": tf32,
        "cudnn_allow_tf32": tf32,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "deterministic_algorithms": True,
        "cublas_workspace_config": devices.CUBLAS_WORKSPACE,
    }
    record = devices.device_record(torch.device("cuda"))
    assert record["cudnn"] == 8900 and record["numerics"]["tf32_switch"] == "allow_tf32"


def test_one_switch_missing_is_enough_to_fall_back(monkeypatch):
    # A torch with cuBLAS's fp32_precision but no cudnn.conv (or the other way round) is not half-set.
    monkeypatch.delattr(type(torch.backends.cudnn), "conv")
    assert devices.tf32_switch() == "allow_tf32"
