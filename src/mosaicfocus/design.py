"""The experiment's fixed shape: nine tiles, focus levels 1..9, ten datasets.

Torch-free, so the Snakefile, the report and the study comparison can use it
without the training stack.
"""

TILES = 9
FOCUS_LEVELS = tuple(range(1, TILES + 1))
FOREGROUND_DATASET = TILES + 1  # dataset 10: the foreground tiles alone
ALL_DATASETS = FOCUS_LEVELS + (FOREGROUND_DATASET,)
