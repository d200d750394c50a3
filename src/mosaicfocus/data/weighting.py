"""Tile weights per mosaic: the fixed focus weights of docs/protocol.md or noisy Dirichlet focus.

The study's sibling experiments drew every image's 9 tile weights from a
Dirichlet distribution: concentration ``a_i * alpha`` on the foreground tile
and ``alpha`` on each background, with ``a_i`` chosen so that the mean
foreground weight ``a_i / (a_i + 8)`` equals ``i / 9``. The mean weights are then
exactly the linear ones; ``alpha`` sets the noise (large alpha: close to the
linear weights, small alpha: nearly one tile at random per image).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from mosaicfocus.data.datasets import TILES, blend, focus_dataset, linear_tile_weights
from mosaicfocus.data.mosaics import place_foreground
from mosaicfocus.seeds import derive_seed

WEIGHTINGS = ("linear", "dirichlet")


def dirichlet_foreground_factor(level: int) -> Fraction:
    """``a_i`` with ``a_i / (a_i + 8) = i / 9``: 1, 16/7, 4, ... (level 9 has none: foreground alone)."""
    if not 1 <= level < TILES:
        raise ValueError(f"a Dirichlet focus level must be in 1..{TILES - 1}, got {level}")
    return Fraction((TILES - 1) * level, TILES - level)


def dirichlet_tile_weights(level: int, foreground_position: torch.Tensor, alpha: float, seed: int) -> torch.Tensor:
    """Per-mosaic weights [n, 9] (float64, rows sum to 1) drawn for focus level ``level``.

    Level 9 is the foreground alone, as in the linear weighting.
    """
    if level == TILES:
        return linear_tile_weights(level, foreground_position)
    n = foreground_position.numel()
    concentration = np.full(TILES, float(alpha))
    concentration[0] = float(dirichlet_foreground_factor(level)) * alpha
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "dirichlet", level)))
    # Column 0 is the foreground draw; the backgrounds keep their draw order, as the tiles do.
    drawn = rng.dirichlet(concentration, size=n)
    return torch.from_numpy(place_foreground(drawn[:, 0], drawn[:, 1:], foreground_position.numpy()))


def focus_dataset_weighted(
    images: torch.Tensor, source_index: torch.Tensor, foreground_position: torch.Tensor, level: int, weighting: dict
) -> torch.Tensor:
    """Dataset ``level`` of the mosaics ``source_index`` into ``images`` under ``weighting``
    (the datasets rule's params: ``{"weighting": "linear"}`` or
    ``{"weighting": "dirichlet", "alpha", "seed"}``)."""
    kind = weighting.get("weighting")
    if kind == "linear":
        return focus_dataset(images, source_index, foreground_position, level)
    if kind == "dirichlet":
        weights = dirichlet_tile_weights(level, foreground_position, weighting["alpha"], weighting["seed"])
        return blend(images, source_index, weights)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {kind!r}")
