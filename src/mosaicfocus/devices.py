"""Device choice and CPU thread settings for the torch stages."""

from __future__ import annotations

import torch

from .errors import MosaicFocusError
from .hostcheck import NO_CUDA_ADVICE


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise MosaicFocusError(f"device: cuda was requested, but torch sees no CUDA device here; {NO_CUDA_ADVICE}.")
    return torch.device(requested)


def set_threads(threads: int) -> None:
    """One job, its own cores: parallel jobs must not oversubscribe the machine."""
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
