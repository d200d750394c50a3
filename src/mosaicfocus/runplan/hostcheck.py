"""What this host offers, found without importing torch (the Snakefile parses in well under a second).

``device: auto`` is resolved here, from the driver's device files, before any
job: the model jobs then carry the resolved device (``job_device``) and refuse
to run anywhere else (``devices.prepare_device``). Only when this host has a GPU
does the check before the first job ask torch whether it can use it
(``devices.unusable_gpu_problem``).
"""

from __future__ import annotations

import glob
import os

from mosaicfocus.errors import NO_CUDA_ADVICE

# Where the NVIDIA driver puts its device files; the tests point it at files of their own
# to play a host with a GPU.
DEVICE_NODES = os.environ.get("MOSAICFOCUS_GPU_DEVICE_NODES", "/dev/nvidia[0-9]*")


def host_has_gpu() -> bool:
    """True when an NVIDIA device node exists and CUDA_VISIBLE_DEVICES does not hide them all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob(DEVICE_NODES))


def job_device(device: str, local_exec: bool, has_gpu=host_has_gpu) -> str:
    """``cpu`` or ``cuda``: where the model jobs of a run started here will run.

    ``auto`` is a GPU when this host has one, and on a cluster (the submit host's
    lack of a GPU says nothing about the nodes; a CPU-only cluster sets device: cpu).
    """
    if device == "auto":
        return "cuda" if has_gpu() or not local_exec else "cpu"
    return device


def lockstep_training(setting: str | bool, device: str, has_gpu=host_has_gpu) -> bool:
    """Whether a replicate's nine models train in one lock-step job (``train.lockstep``).

    ``auto``: where they run on a GPU, as far as the Snakefile can tell while it is
    parsed (device: cuda, or auto on a host with a GPU); the executor is not known
    then, so a cluster run from a GPU-less login node sets device: cuda to get it.
    """
    if setting == "auto":
        return device == "cuda" or (device == "auto" and has_gpu())
    return bool(setting)


def cuda_problem(device: str, local_exec: bool, has_gpu=host_has_gpu) -> str | None:
    """Why ``device`` cannot work for a run started here, or None.

    Only local runs are checked: with a cluster executor (SLURM) the jobs run on
    other nodes and the submit host often has no GPU; there the job itself
    (``devices.prepare_device``) refuses a node where torch sees no GPU.
    A host with a GPU is checked with torch (imported only then).
    """
    if device == "cpu" or not local_exec:
        return None
    if not has_gpu():
        if device == "auto":
            return None
        return (
            "device: 'cuda', but this machine has no CUDA device (no /dev/nvidia*, or "
            f"CUDA_VISIBLE_DEVICES hides them); {NO_CUDA_ADVICE}, "
            "or submit to GPU nodes with a cluster executor."
        )
    from mosaicfocus.devices import cuda_unusable_reason, unusable_gpu_problem

    return None if cuda_unusable_reason() is None else unusable_gpu_problem(device)
