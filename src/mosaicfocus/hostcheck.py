"""What this host offers, found without importing torch (the Snakefile parses in well under a second).

These are cheap guesses from the driver's device files; the job itself asks
torch (``devices.resolve_device``) and fails with a message when it was wrong.
"""

from __future__ import annotations

import glob
import os

# What to set instead of device: cuda on a machine without one. The one wording
# of this advice: cuda_problem (before the first job) and devices.resolve_device
# (in the job, where torch has the last word) both end with it.
NO_CUDA_ADVICE = "set device: auto (uses a GPU when there is one) or device: cpu"


def host_has_gpu() -> bool:
    """True when an NVIDIA device node exists and CUDA_VISIBLE_DEVICES does not hide them all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def cuda_problem(device: str, local_exec: bool, has_gpu=host_has_gpu) -> str | None:
    """Why ``device`` cannot work for a run started here, or None.

    Only local runs are checked: with a cluster executor (SLURM) the jobs run on
    other nodes and the submit host often has no GPU; there ``resolve_device``
    in the job refuses a GPU-less node with the same advice (``NO_CUDA_ADVICE``).
    """
    if device != "cuda" or not local_exec or has_gpu():
        return None
    return (
        "device: 'cuda', but this machine has no CUDA device (no /dev/nvidia*, or "
        f"CUDA_VISIBLE_DEVICES hides them); {NO_CUDA_ADVICE}, "
        "or submit to GPU nodes with a cluster executor."
    )
