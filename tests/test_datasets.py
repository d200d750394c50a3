from fractions import Fraction

import pytest
import torch

from mosaicfocus.data.datasets import (
    FOCUS_LEVELS,
    blend,
    focus_dataset,
    focus_weights,
    foregrounds,
    linear_tile_weights,
    normalize,
)
from mosaicfocus.data.mosaics import draw_mosaics, gather_tiles
from mosaicfocus.data.sources import make_synthetic


@pytest.fixture(scope="module")
def mosaics():
    images, labels, _ = make_synthetic(30, seed=11)
    drawn = draw_mosaics(labels, [0, 1, 2], list(range(3, 10)), 120, seed=4)
    return images, drawn["source_index"], drawn["foreground_position"]


@pytest.mark.parametrize("level", FOCUS_LEVELS)
def test_weights_sum_to_one_and_follow_the_protocol(level):
    w_fg, w_bg = focus_weights(level)
    assert w_fg + 8 * w_bg == 1
    assert w_fg == Fraction(level, 9) and w_bg == Fraction(9 - level, 72)


def test_tile_weights_put_the_foreground_weight_at_its_position():
    position = torch.tensor([0, 4, 8])
    weights = linear_tile_weights(3, position)
    assert torch.allclose(weights.sum(1), torch.ones(3, dtype=torch.float64))
    assert weights[1, 4] == pytest.approx(3 / 9) and weights[1, 0] == pytest.approx(6 / 72)


def test_normalize_matches_totensor_then_normalize():
    from torchvision.transforms import Normalize

    pixels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    reference = Normalize((0.5,) * 3, (0.5,) * 3)(pixels.float() / 255)
    values = normalize(pixels)
    assert values.min() == -1 and values.max() == 1
    assert torch.allclose(values, reference, atol=1e-6)


def test_normalize_gives_the_bits_of_the_float64_arithmetic():
    every_value = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(normalize(every_value), (every_value.double() / 127.5 - 1.0).float())


def test_foregrounds_are_independent_of_chunking(mosaics):
    images, index, position = mosaics
    assert torch.equal(foregrounds(images, index, position, chunk=7), foregrounds(images, index, position))


def test_dataset_9_is_the_foreground_tile_exactly(mosaics):
    images, index, position = mosaics
    tiles = gather_tiles(images, index)
    nine = focus_dataset(images, index, position, 9)
    rows = torch.arange(tiles.shape[0])
    assert torch.equal(nine, normalize(tiles[rows, position]))
    assert torch.equal(nine, foregrounds(images, index, position))


def test_dataset_1_is_the_mean_of_the_tiles(mosaics):
    images, index, position = mosaics
    one = focus_dataset(images, index, position, 1)
    mean = normalize(gather_tiles(images, index)).to(torch.float64).mean(dim=1)
    assert torch.allclose(one.to(torch.float64), mean, atol=1e-6)


def test_intermediate_level_is_the_weighted_sum(mosaics):
    images, index, position = mosaics
    tiles = gather_tiles(images, index)
    level = 4
    out = focus_dataset(images, index, position, level)
    x = normalize(tiles).to(torch.float64)
    w_fg, w_bg = (float(w) for w in focus_weights(level))
    rows = torch.arange(tiles.shape[0])
    expected = w_bg * (x.sum(1) - x[rows, position]) + w_fg * x[rows, position]
    assert out.dtype == torch.float32 and out.shape == (tiles.shape[0], 3, 32, 32)
    assert torch.allclose(out.to(torch.float64), expected, atol=1e-6)
    assert out.min() >= -1 and out.max() <= 1


def test_blend_is_independent_of_chunking(mosaics):
    images, index, position = mosaics
    weights = linear_tile_weights(6, position)
    assert torch.equal(blend(images, index, weights, chunk=7), blend(images, index, weights, chunk=4096))


def test_exact_blend_is_independent_of_chunking(mosaics):
    from mosaicfocus.data.exact_blend import blend_exact

    images, index, position = mosaics
    assert torch.equal(
        blend_exact(images, index, position, 24, 6, chunk=7), blend_exact(images, index, position, 24, 6, chunk=4096)
    )


def test_focus_level_out_of_range_is_refused():
    with pytest.raises(ValueError, match="focus level"):
        focus_weights(10)
