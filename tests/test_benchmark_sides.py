"""The two sides of bench/benchmark.py's side-by-side figure do the same experiment."""

import sys
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import benchmark  # noqa: E402
import notebook_baseline  # noqa: E402

from mosaicfocus.data.datasets import FOCUS_LEVELS, focus_dataset, foregrounds  # noqa: E402
from mosaicfocus.data.mosaics import draw_mosaics  # noqa: E402
from mosaicfocus.data.sources import make_synthetic  # noqa: E402


def _tiny_source():
    images, labels, _ = make_synthetic(12, seed=4)
    return images, labels


def test_baseline_blends_the_datasets_the_workflow_makes():
    images, labels = _tiny_source()
    drawn = draw_mosaics(labels, benchmark.FOREGROUND, benchmark.BACKGROUND, 16, seed=3)
    index, position = drawn["source_index"], drawn["foreground_position"]
    images_hwc = images.permute(0, 2, 3, 1).numpy()
    # The baseline's per-image loops, fed the same mosaics.
    mosaics = [
        [notebook_baseline.to_normalized_tensor(images_hwc[int(i)]) for i in row] for row in drawn["source_index"]
    ]
    positions = position.tolist()
    for level in FOCUS_LEVELS:
        ours = focus_dataset(images, index, position, level)
        theirs = notebook_baseline.focus_dataset(mosaics, positions, level)
        assert ours.dtype == torch.float32 and theirs.dtype == torch.float64
        assert torch.allclose(ours.double(), theirs, rtol=0, atol=1e-6), level
    theirs_fg = torch.stack([tiles_[p] for tiles_, p in zip(mosaics, positions)])
    assert torch.allclose(foregrounds(images, index, position).double(), theirs_fg, rtol=0, atol=1e-7)


def test_both_sides_fill_the_whole_matrix_on_a_tiny_workload():
    images, labels = _tiny_source()
    ours = benchmark.workflow_experiment(images, labels, count=40, epochs=1, seed=1)
    theirs = notebook_baseline.run_experiment(images.permute(0, 2, 3, 1).numpy(), labels.tolist(), 40, 1, seed=1)
    cells = {(i, j) for i in FOCUS_LEVELS for j in range(1, 11)}
    assert set(ours) == cells and set(theirs) == cells
    for matrix in (ours, theirs):
        values = np.array(list(matrix.values()))
        assert ((values >= 0) & (values <= 100)).all()
    # 20 images per dataset: every accuracy is a whole multiple of 5%.
    assert all(abs(v / 5 - round(v / 5)) < 1e-9 for v in ours.values())
