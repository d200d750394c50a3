import numpy as np
import pytest
import torch

from mosaicfocus.data.mosaics import draw_mosaics, gather_tiles
from mosaicfocus.data.sources import make_synthetic

FOREGROUND = [0, 1, 2]
BACKGROUND = [3, 4, 5, 6, 7, 8, 9]


@pytest.fixture(scope="module")
def source():
    return make_synthetic(40, seed=3)


def test_labels_are_the_foreground_class(source):
    images, labels, _ = source
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 500, seed=1)
    rows = torch.arange(500)
    fg_index = drawn["source_index"][rows, drawn["foreground_position"]]
    assert torch.equal(labels[fg_index], torch.tensor(FOREGROUND)[drawn["label"]])
    assert set(drawn["label"].tolist()) == {0, 1, 2}


def test_other_tiles_are_backgrounds(source):
    _, labels, _ = source
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 500, seed=1)
    mask = torch.ones(500, 9, dtype=torch.bool)
    mask[torch.arange(500), drawn["foreground_position"]] = False
    background_labels = labels[drawn["source_index"][mask]]
    assert background_labels.numel() == 500 * 8
    assert set(background_labels.tolist()) <= set(BACKGROUND)
    assert len(set(background_labels.tolist())) == len(BACKGROUND)


def test_foreground_positions_are_uniform(source):
    _, labels, _ = source
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 18000, seed=5)
    counts = np.bincount(drawn["foreground_position"].numpy(), minlength=9)
    expected = 18000 / 9
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert counts.min() > 0
    assert chi2 < 26.1  # chi-square, 8 degrees of freedom, p = 0.001


def test_backgrounds_fill_slots_in_draw_order(source):
    """The vectorised draw equals the protocol written as a loop over mosaics."""
    from mosaicfocus.seeds import derive_seed

    _, labels, _ = source
    count = 300
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, count, seed=9)
    rng = np.random.Generator(np.random.PCG64(derive_seed(9, "mosaics")))
    fg_pool = np.flatnonzero(np.isin(labels.numpy(), FOREGROUND))
    bg_pool = np.flatnonzero(np.isin(labels.numpy(), BACKGROUND))
    fg = fg_pool[rng.integers(fg_pool.size, size=count)]
    bg = bg_pool[rng.integers(bg_pool.size, size=(count, 8))]
    position = rng.integers(9, size=count)
    for row in range(count):
        expected = list(bg[row])
        expected.insert(position[row], fg[row])
        assert drawn["source_index"][row].tolist() == expected
    assert drawn["foreground_position"].tolist() == position.tolist()


def test_seed_changes_the_mosaics_and_repeats_them(source):
    _, labels, _ = source
    a = draw_mosaics(labels, FOREGROUND, BACKGROUND, 200, seed=1)
    b = draw_mosaics(labels, FOREGROUND, BACKGROUND, 200, seed=1)
    c = draw_mosaics(labels, FOREGROUND, BACKGROUND, 200, seed=2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["source_index"], c["source_index"])


def test_gather_tiles_shapes_and_content(source):
    images, labels, _ = source
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 50, seed=1)
    tiles = gather_tiles(images, drawn["source_index"])
    assert tiles.shape == (50, 9, 3, 32, 32) and tiles.dtype == torch.uint8
    assert torch.equal(tiles[7, 4], images[drawn["source_index"][7, 4]])


def test_draws_with_replacement_from_small_pools():
    labels = torch.tensor([0, 3, 4])
    drawn = draw_mosaics(labels, [0], [3, 4], 20, seed=0)
    assert drawn["label"].eq(0).all()
    assert drawn["source_index"].shape == (20, 9)


def test_mosaics_drawn_from_other_source_images_are_refused(tmp_path, source):
    from mosaicfocus.artifacts import ArtifactError, save_artifact
    from mosaicfocus.data.mosaics import load_mosaics

    images, labels, _ = source
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 30, seed=1)
    save_artifact(tmp_path / "source.pt", "source", {"images": images, "labels": labels}, meta={"params": {"seed": 1}})
    save_artifact(tmp_path / "mosaics.pt", "mosaics", drawn, meta={"source": {"seed": 1}})
    loaded_images, mosaics, _ = load_mosaics(tmp_path / "mosaics.pt", tmp_path / "source.pt")
    assert torch.equal(loaded_images, images) and torch.equal(mosaics["source_index"], drawn["source_index"])
    save_artifact(tmp_path / "other.pt", "source", {"images": images, "labels": labels}, meta={"params": {"seed": 2}})
    with pytest.raises(ArtifactError, match="was drawn from other source images than .*other.pt"):
        load_mosaics(tmp_path / "mosaics.pt", tmp_path / "other.pt")
