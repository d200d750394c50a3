"""The ten datasets: tiles blended at focus levels 1..9, plus the foregrounds alone.

Averaging happens in the normalised space of ``ToTensor()`` followed by
``Normalize(0.5, 0.5)``: ``x = u / 127.5 - 1`` for a uint8 value ``u``. Because
the tile weights sum to 1, ``sum_k w_k x_k = (sum_k w_k u_k) / 127.5 - 1``. The
weights of every focus level are multiples of 1/72, so ``72 * sum_k w_k u_k`` is
an integer (at most 72 * 255): ``focus_dataset`` computes it exactly in int16
(``exact_blend``) and looks its value up in a table made once in float64, rounded once to
float32. Dataset 9 therefore equals the normalised foreground bit for bit, and
a blend whose exact value is 0 gives 0, not float64 dust.

A mosaic is a row of 9 indices into the source images (``mosaics``); every
function here gathers the tiles it blends, a chunk at a time, so a job holds
the source images and its output, never all the tiles.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS, FOREGROUND_DATASET, TILES
from mosaicfocus.data.exact_blend import blend_exact
from mosaicfocus.data.mosaics import gather_tiles

__all__ = ["ALL_DATASETS", "FOCUS_LEVELS", "FOREGROUND_DATASET"]


# float32(u / 127.5 - 1) of every uint8 value u, each computed once in float64: a lookup
# gives the same bits as the float64 arithmetic without its 8 bytes per pixel.
_NORMALIZED = (torch.arange(256, dtype=torch.float64) / 127.5 - 1.0).to(torch.float32)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    return _NORMALIZED[images_uint8.to(torch.int32)]


def focus_weights(level: int) -> tuple[Fraction, Fraction]:
    """Exact (foreground, each background) weights of focus level 1..9."""
    if level not in FOCUS_LEVELS:
        raise ValueError(f"focus level must be in 1..{TILES}, got {level}")
    return Fraction(level, TILES), Fraction(TILES - level, (TILES - 1) * TILES)


def linear_tile_weights(level: int, foreground_position: torch.Tensor) -> torch.Tensor:
    """Per-mosaic tile weights [count, 9] of focus level ``level``."""
    w_fg, w_bg = focus_weights(level)
    weights = torch.full((foreground_position.numel(), TILES), float(w_bg), dtype=torch.float64)
    weights.scatter_(1, foreground_position.view(-1, 1), float(w_fg))
    return weights


def blend(images: torch.Tensor, source_index: torch.Tensor, weights: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Blend mosaics (``source_index`` [n, 9] into uint8 ``images``) with ``weights`` [n, 9]
    into float32 [n, C, H, W], gathering the tiles a chunk of mosaics at a time."""
    n = source_index.shape[0]
    out = torch.empty((n, *images.shape[1:]), dtype=torch.float32)
    for start in range(0, n, chunk):
        block = gather_tiles(images, source_index[start : start + chunk]).to(torch.float64).flatten(2)
        w = weights[start : start + chunk].to(torch.float64).unsqueeze(1)
        mixed = torch.bmm(w, block).squeeze(1) / 127.5 - 1.0
        out[start : start + chunk] = mixed.view(-1, *images.shape[1:]).to(torch.float32)
    return out


def foregrounds(
    images: torch.Tensor, source_index: torch.Tensor, foreground_position: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """The normalised foreground tile of every mosaic, float32 [n, C, H, W], a chunk at a time."""
    n = source_index.shape[0]
    foreground = source_index[torch.arange(n), foreground_position]
    out = torch.empty((n, *images.shape[1:]), dtype=torch.float32)
    for start in range(0, n, chunk):
        out[start : start + chunk] = normalize(images[foreground[start : start + chunk]])
    return out


def focus_dataset(
    images: torch.Tensor, source_index: torch.Tensor, foreground_position: torch.Tensor, level: int
) -> torch.Tensor:
    """Dataset ``level`` (1..9) of the mosaics ``source_index`` [n, 9] into uint8 ``images``:
    float32 [n, C, H, W], exactly."""
    w_fg, w_bg = focus_weights(level)
    return blend_exact(images, source_index, foreground_position, int(w_fg * 72), int(w_bg * 72))


def load_dataset(path, dataset: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Load dataset ``dataset`` from ``path``, refusing a file that holds another one."""
    from mosaicfocus.artifacts import ArtifactError, load_artifact, require_meta

    tensors, meta = load_artifact(
        path,
        "dataset",
        expect={"images": ((None, 3, 32, 32), torch.float32), "labels": ((None,), torch.int64)},
    )
    require_meta(path, meta, dataset=dataset)
    if tensors["images"].shape[0] != tensors["labels"].shape[0]:
        raise ArtifactError(f"{path}: images and labels differ in count; delete it and rerun the workflow.")
    return tensors["images"], tensors["labels"], meta
