"""Where a torch job runs, with what numerics, and the record of it.

The device policy:

- The workflow resolves ``device: auto`` before any job (``hostcheck``), and
  every model job carries the resolved device in its params: a job told
  ``cuda`` never falls back to the CPU (``prepare_device`` refuses instead), and
  results made on a CPU are not taken for a GPU run's: switching device reruns
  the model jobs.
- On CUDA, float32 is float32: convolutions and matrix products in full IEEE
  precision unless TF32 is asked for (``tf32: true``, recorded), through torch's
  ``fp32_precision`` switches or, in a torch without them, the ``allow_tf32``
  flags (``tf32_switch``, named in the record); cuDNN picks
  deterministic algorithms and torch refuses nondeterministic ones, with the
  cuBLAS workspace setting they need set before CUDA starts. Same seed, same
  GPU model and software: same bits.
- Every model and evaluation record names the device it ran on (``device_record``).
"""

from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

import torch

from mosaicfocus.errors import NO_CUDA_ADVICE, MosaicFocusError

# cuBLAS is deterministic only with a fixed workspace; it reads this when CUDA starts.
CUBLAS_WORKSPACE = ":4096:8"


def cuda_unusable_reason() -> str | None:
    """Why torch cannot use a CUDA device here (its own warning where it gives one), or None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if torch.cuda.is_available():
            return None
    said = " ".join(" ".join(str(w.message).split()) for w in caught if "CUDA" in str(w.message))
    build = f"torch.version.cuda {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return f"torch {torch.__version__} ({build}) cannot use it" + (f": {said}" if said else "")


def unusable_gpu_problem(device: str) -> str:
    """The refusal for a host whose GPU torch cannot use (``device`` auto or cuda)."""
    return (
        f"device: {device}, and this machine has an NVIDIA GPU, but {cuda_unusable_reason()}. "
        "Either set device: cpu (the per-model CPU jobs, as many at once as --cores allows), "
        "or install a torch wheel built for a CUDA version this machine's driver supports "
        "(nvidia-smi prints the newest CUDA it supports)."
    )


def prepare_device(device: str, tf32: bool = False) -> torch.device:
    """The device a job runs on, with its numerics set (module docstring).

    ``device`` is what the workflow resolved (``cpu`` or ``cuda``: a model job's
    ``params.device``) or, outside the workflow, ``auto``.
    """
    if device in ("auto", "cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        reason = cuda_unusable_reason()
        if reason is not None:
            raise MosaicFocusError(
                f"this job was resolved to run on CUDA (device: cuda, or auto where a GPU was expected), but "
                f"{reason}, and it does not fall back to the CPU; {NO_CUDA_ADVICE}, "
                "or run it where torch sees the GPU."
            )
        set_cuda_numerics(tf32)
    return torch.device(device)


def tf32_switch() -> str:
    """Which of torch's TF32 switches this torch has: ``fp32_precision`` (``torch.backends.cuda.matmul``
    and ``torch.backends.cudnn.conv``, torch 2.9 on: the pinned 2.14.1 and the 2.11 of the lent GPU
    machines have it) or, in an older torch, the ``allow_tf32`` flags of cuBLAS and cuDNN."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv"):
        return "fp32_precision"
    return "allow_tf32"


def set_cuda_numerics(tf32: bool) -> None:
    """Full float32 (or TF32 when asked) and deterministic algorithms for CUDA kernels."""
    if tf32_switch() == "fp32_precision":
        precision = "tf32" if tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    else:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)


def cuda_numerics() -> dict:
    """The flags ``set_cuda_numerics`` sets, read back from torch, and which TF32 switch was in force."""
    switch = tf32_switch()
    if switch == "fp32_precision":
        tf32 = {
            "matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
            "conv_fp32_precision": torch.backends.cudnn.conv.fp32_precision,
        }
    else:
        tf32 = {
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        }
    return {
        "tf32_switch": switch,
        **tf32,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def device_record(device: torch.device) -> dict:
    """What a result was computed on: enough to tell whether two runs can agree bit for bit."""
    record = {"type": device.type, "torch": torch.__version__}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        record.update(
            name=torch.cuda.get_device_name(index),
            capability=".".join(map(str, torch.cuda.get_device_capability(index))),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            driver=nvidia_driver_version(),
            numerics=cuda_numerics(),
        )
    else:
        record.update(
            processor=cpu_model_name(),
            capability=torch.backends.cpu.get_cpu_capability(),
            threads=torch.get_num_threads(),
        )
    return record


def nvidia_driver_version(proc: Path = Path("/proc/driver/nvidia/version")) -> str | None:
    """The kernel driver's version (e.g. 570.124.06), from the file the driver publishes."""
    try:
        words = proc.read_text().split()
    except OSError:
        return None
    return next((w for w in words if w.count(".") >= 1 and w.replace(".", "").isdigit()), None)


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def set_threads(threads: int) -> None:
    """One job, its own cores: parallel jobs must not oversubscribe the machine."""
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
