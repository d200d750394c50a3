"""Datasets 1..9 in exact integer arithmetic (see ``datasets`` for why it is exact)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch

from mosaicfocus.data.design import TILES

WEIGHT_DENOMINATOR = (TILES - 1) * TILES  # 72: every focus weight is k/72


def _blend_values() -> torch.Tensor:
    """float32 value of every possible ``72 * sum_k w_k u_k`` (0 .. 72 * 255)."""
    numerators = torch.arange(WEIGHT_DENOMINATOR * 255 + 1, dtype=torch.float64)
    return (numerators / (WEIGHT_DENOMINATOR * 127.5) - 1.0).to(torch.float32)


_BLEND_VALUES = _blend_values()


@contextmanager
def _one_thread_per_op():
    """Run torch ops single-threaded inside, restoring the thread count after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def blend_exact(
    images: torch.Tensor,
    source_index: torch.Tensor,
    foreground_position: torch.Tensor,
    fg_numerator: int,
    bg_numerator: int,
    chunk: int = 512,
) -> torch.Tensor:
    """Mosaics blended with weights ``fg_numerator/72`` on the foreground and
    ``bg_numerator/72`` on each background, normalised: float32 [n, C, H, W].

    A mosaic is its row of ``source_index`` [n, 9] into the uint8 source ``images``
    [N, C, H, W]; its tiles are gathered here, a chunk of mosaics at a time, so
    no [n, 9, C, H, W] copy of the tiles ever exists. Exact integer arithmetic
    in chunks that stay in the CPU caches, faster than the float64 blend of the
    same weights (BENCHMARKS.md), whose result differs from this one only by
    float64 rounding. The chunks go to one Python thread per torch thread, each
    op single-threaded: an OpenMP team per small op stalls at its barriers when
    other processes share the cores.
    """
    n = source_index.shape[0]
    out = torch.empty((n, *images.shape[1:]), dtype=torch.float32)
    flat_out = out.view(n, -1)
    flat_images = images.reshape(images.shape[0], -1)

    def fill(start: int) -> None:
        index = source_index[start : start + chunk]
        rows = torch.arange(index.shape[0])
        foreground = flat_images[index[rows, foreground_position[start : start + chunk]]].to(torch.int16)
        # 72 * blend = bg * (sum of all tiles) + (fg - bg) * foreground tile
        numerator = flat_images[index[:, 0]].to(torch.int16)
        for tile in range(1, TILES):
            numerator += flat_images[index[:, tile]]
        numerator.mul_(bg_numerator).add_(foreground, alpha=fg_numerator - bg_numerator)
        flat_out[start : start + chunk] = _BLEND_VALUES[numerator.to(torch.int32)]

    with _one_thread_per_op() as threads, ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fill, range(0, n, chunk)))
    return out
