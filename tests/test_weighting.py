from fractions import Fraction

import pytest
import torch

from mosaicfocus.data.datasets import FOCUS_LEVELS, linear_tile_weights
from mosaicfocus.data.weighting import dirichlet_foreground_factor, dirichlet_tile_weights, focus_dataset_weighted


def test_foreground_factors_match_the_protocol():
    assert [dirichlet_foreground_factor(i) for i in (1, 2, 3)] == [1, Fraction(16, 7), 4]
    for level in range(1, 9):
        a = dirichlet_foreground_factor(level)
        assert a / (a + 8) == Fraction(level, 9)


@pytest.mark.parametrize("alpha", [0.01, 1.0, 1e5])
@pytest.mark.parametrize("level", FOCUS_LEVELS)
def test_dirichlet_weights_sum_to_one_and_average_to_the_linear_weights(level, alpha):
    n = 20000
    position = torch.randint(0, 9, (n,), generator=torch.Generator().manual_seed(level))
    weights = dirichlet_tile_weights(level, position, alpha, seed=3)
    assert weights.shape == (n, 9) and weights.dtype == torch.float64
    assert torch.allclose(weights.sum(1), torch.ones(n, dtype=torch.float64))
    assert (weights >= 0).all()
    rows = torch.arange(n)
    foreground = weights[rows, position]
    # Standard error of the mean foreground weight is at most 0.5 / sqrt(n) = 0.0035.
    assert foreground.mean().item() == pytest.approx(level / 9, abs=0.01)
    background = weights.clone()
    background[rows, position] = float("nan")
    assert background.nanmean().item() == pytest.approx((9 - level) / 72, abs=0.01)


def test_large_alpha_approaches_the_linear_weights_and_small_alpha_is_noisy():
    position = torch.randint(0, 9, (5000,), generator=torch.Generator().manual_seed(0))
    linear = linear_tile_weights(4, position)
    close = dirichlet_tile_weights(4, position, 1e6, seed=1)
    noisy = dirichlet_tile_weights(4, position, 0.01, seed=1)
    assert (close - linear).abs().max() < 0.01
    assert (noisy - linear).abs().mean() > 0.1


def test_dirichlet_weights_are_reproducible_from_the_seed():
    position = torch.randint(0, 9, (100,), generator=torch.Generator().manual_seed(0))
    a = dirichlet_tile_weights(5, position, 1.0, seed=1)
    assert torch.equal(a, dirichlet_tile_weights(5, position, 1.0, seed=1))
    assert not torch.equal(a, dirichlet_tile_weights(5, position, 1.0, seed=2))


def test_level_9_stays_the_foreground_alone():
    position = torch.tensor([0, 5, 8])
    assert torch.equal(dirichlet_tile_weights(9, position, 0.5, seed=1), linear_tile_weights(9, position))


def test_weighted_dataset_dispatches_on_the_rule_params():
    from mosaicfocus.data.datasets import blend, focus_dataset
    from mosaicfocus.data.mosaics import draw_mosaics, gather_tiles
    from mosaicfocus.data.sources import make_synthetic

    images, labels, _ = make_synthetic(10, seed=1)
    drawn = draw_mosaics(labels, [0, 1, 2], list(range(3, 10)), 40, seed=2)
    index, position = drawn["source_index"], drawn["foreground_position"]
    linear = focus_dataset_weighted(images, index, position, 4, {"weighting": "linear"})
    assert torch.equal(linear, focus_dataset(images, index, position, 4))
    params = {"weighting": "dirichlet", "alpha": 0.5, "seed": 9}
    noisy = focus_dataset_weighted(images, index, position, 4, params)
    weights = dirichlet_tile_weights(4, position, 0.5, 9)
    assert torch.equal(noisy, blend(images, index, weights))
    # The float64 blend of the tiles themselves, written out: the gathered tiles are the mosaic's.
    tiles = gather_tiles(images, index).to(torch.float64) / 127.5 - 1
    assert torch.allclose(noisy.double(), torch.einsum("nk,nkchw->nchw", weights, tiles), atol=1e-6)
    assert not torch.allclose(noisy, linear)
    with pytest.raises(ValueError, match="weighting must be one of"):
        focus_dataset_weighted(images, index, position, 3, {"weighting": "gaussian"})
