"""The tiles of mosaics, a mini-batch at a time, in the layout ``features_of`` takes.

The attention network sees all nine tiles of every mosaic. Its training set
would be 10,000 x 9 tiles of 3x32x32 float32 (1.1 GB), seven times the uint8
source images it is made of; instead the source images stay uint8, laid out
once (row phases on the CPU, channels-last elsewhere), and each mini-batch's
tiles are gathered and normalised when it is used: one gather and two
elementwise passes over 9 x B tiles, next to ten forward and backward passes of
a CNN over them. The layout is a permutation of pixels, so normalising and
weighted averaging commute with it: the alpha-weighted average of tiles in row
phases is the row-phased average.
"""

from __future__ import annotations

import torch

from mosaicfocus.data.design import TILES
from mosaicfocus.what_network.fast.phases import to_row_phases


def normalize_float32(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 ``u / 127.5 - 1``, as ``(u - 127.5) / 127.5`` in float32.

    Both operations are exact or correctly rounded once, and for every one of the
    256 values this equals the float64 ``u / 127.5 - 1`` rounded to float32 (the
    datasets' lookup table; checked in the tests), without a gather per pixel.
    """
    return images.to(torch.float32).sub_(127.5).div_(127.5)


class MosaicTiles:
    """uint8 source images on ``device`` in the fast layout, and the mosaics' rows of 9 indices into them.

    ``tiles[mosaics]`` is the normalised tiles of those mosaics, [9 B, C', H', W'],
    mosaic by mosaic and tile by tile within one; ``average(alphas, tiles)`` their
    alpha-weighted average per mosaic, [B, C', H', W'], in the same layout.
    """

    def __init__(self, images: torch.Tensor, source_index: torch.Tensor, device, phased: bool):
        self.phased = phased
        x = images.to(device)
        x = to_row_phases(x) if phased else x.contiguous(memory_format=torch.channels_last)
        _, self.channels, self.height, self.width = x.shape
        self.rows = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # channels-last uint8 images as rows
        self.index = source_index.to(device)

    def __len__(self) -> int:
        return self.index.shape[0]

    def _images(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.view(-1, self.height, self.width, self.channels).permute(0, 3, 1, 2)

    def __getitem__(self, mosaics: torch.Tensor) -> torch.Tensor:
        tiles = self.rows.index_select(0, self.index.index_select(0, mosaics).reshape(-1))
        return self._images(normalize_float32(tiles))

    def average(self, alphas: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
        """sum_k alphas[b, k] * tile k of mosaic b: one batched [1 x 9] @ [9 x pixels] product."""
        rows = tiles.permute(0, 2, 3, 1).reshape(alphas.shape[0], TILES, -1)
        return self._images(torch.bmm(alphas.unsqueeze(1), rows).view(alphas.shape[0], -1))
