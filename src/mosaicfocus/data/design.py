"""The experiment's fixed shape: nine tiles, focus levels 1..9, ten datasets.

Torch-free, so the Snakefile, the report and the study comparison can use it
without the training stack.
"""

TILES = 9
FOCUS_LEVELS = tuple(range(1, TILES + 1))
FOREGROUND_DATASET = TILES + 1  # dataset 10: the foreground tiles alone
ALL_DATASETS = FOCUS_LEVELS + (FOREGROUND_DATASET,)


def training_mosaics(count: int) -> int:
    """Mosaics 0..n-1 of ``count`` are the training half: datasets 1..9 blend them."""
    return count // 2


def test_mosaics(count: int) -> int:
    """The rest, the test half: dataset 10 holds their foregrounds."""
    return count - training_mosaics(count)


def scored_images(count: int) -> int:
    """Images a model is scored on across the ten datasets of ``count`` mosaics."""
    return len(FOCUS_LEVELS) * training_mosaics(count) + test_mosaics(count)
