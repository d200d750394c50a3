"""Keep glibc from unmapping and re-faulting the MiB-sized buffers of every training step."""

from __future__ import annotations

import ctypes

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Let glibc keep freed blocks of up to 32 MiB for reuse instead of unmapping them.

    A training step allocates and frees a few MiB-sized tensors (conv outputs,
    pooling gradients). By default glibc serves them with fresh mmaps, so every
    step page-faults and zero-fills them again (figures in BENCHMARKS.md). The
    cost is up to ``trim_threshold`` bytes kept.
    Returns False where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
