"""Where every result file lives: the one place their names are spelled.

The patterns are Snakemake's (relative to the working directory) and carry
wildcards that may be empty, so a run without sweep or replicates keeps the
plain layout:

- ``point``: "" without a sweep, ``sweep/<key>~<value>/...`` for a grid point (``runs``);
- ``run``: a point and a replicate: the point, then "" for replicate 1 or
  ``replicates/<r>/`` (``runs.replicate_prefix``);
- ``split``: "" for the training-split mosaics, "_heldout" for the test-split ones.

A file's point names only the swept keys that change it (``runs.stage_values``),
so grid points share the source images, mosaics and datasets they have in
common. ``in_results`` places a pattern in any results folder (a copy under
docs/, say), which is how ``compare`` and ``study`` find their files.
Torch-free: the Snakefile imports it while it parses.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results/"
SOURCE_IMAGES = "results/{point}data/source_images{split}.pt"
MOSAICS = "results/{run}data/mosaics{split}.pt"
DATASET = "results/{run}data/dataset{split}_{dataset}.pt"
MODEL = "results/{run}models/model_{focus}.pt"
# What made the weights, their health and a CRC-32 of every tensor (artifacts.save_weights).
MODEL_RECORD = "results/{run}models/model_{focus}.json"
TRAINING_STATE = "results/{run}models/states/model_{focus}_epoch{epoch}.pt"
LOSS = "results/{run}models/loss_{focus}.tsv"
EVALUATION = "results/{run}eval{split}/train{focus}_test{dataset}.json"
REPLICATE_MATRIX = "results/{run}eval{split}/accuracy.csv"
ACCURACY_CSV = "results/{point}accuracy{split}.csv"
ACCURACY_SD_CSV = "results/{point}accuracy{split}_sd.csv"
HEATMAP_PNG = "results/{point}plots/accuracy{split}_heatmap.png"
LOSS_PNG = "results/{point}plots/training_loss.png"
# The same means over the replicates whose model learned (health.py's rule), per row.
LEARNED_CSV = "results/{point}accuracy{split}_learned.csv"
LEARNED_SD_CSV = "results/{point}accuracy{split}_learned_sd.csv"
LEARNED_HEATMAP_PNG = "results/{point}plots/accuracy{split}_learned_heatmap.png"
HEALTH_CSV = "results/{point}training_health.csv"
# The run the report describes, read from its models' records (reporting.run_description).
RUN_JSON = "results/{point}run.json"
RUN_TXT = "results/{point}run.txt"
STUDY_TXT = "results/{point}study_comparison.txt"
STUDY_PNG = "results/{point}plots/study_difference.png"
# Across the grid of a sweep.
SWEEP_CSV = "results/sweep/accuracy.csv"
SWEEP_HEATMAPS_PNG = "results/sweep/plots/accuracy_heatmaps.png"
SWEEP_SUMMARY_PNG = "results/sweep/plots/summary_{key}.png"
# Each grid point and the run that made it, read from the points' run.json (reporting.run_description).
SWEEP_RUNS_JSON = "results/sweep/runs.json"
SWEEP_RUNS_TXT = "results/sweep/runs.txt"

# The where network (attention.enabled), per run and over a point's replicates.
ATTENTION_MODEL = "results/{run}attention/model.pt"
# What made the weights, the what network's health and a CRC-32 of every tensor.
ATTENTION_RECORD = "results/{run}attention/model.json"
ATTENTION_EPOCHS = "results/{run}attention/epochs.tsv"
ATTENTION_FOCUS = "results/{run}attention/focus.json"
ATTENTION_TRAJECTORY = "results/{run}attention/trajectory.tsv"
# Per mosaic of dataset 10's mosaics (the test half): alphas, attended tile, prediction.
ATTENTION_MOSAICS = "results/{run}attention/mosaics{split}.tsv"
# Dataset 10's mosaics blended with the trained focus network's alphas ("learned focus").
LEARNED_FOCUS = "results/{run}attention/learned_focus{split}.pt"
# The extra row (the attention model's what network on datasets 1..10) and column
# (each of the nine what networks on the learned-focus blend).
ATTENTION_ROW = "results/{run}attention/eval{split}/attention_test{dataset}.json"
ATTENTION_COLUMN = "results/{run}attention/eval{split}/train{focus}_learned.json"
# Their corner: the attention model's what network on the learned-focus blend.
ATTENTION_CORNER = "results/{run}attention/eval{split}/attention_learned.json"
# Over the replicates of a point.
ATTENTION_FOCUS_CSV = "results/{point}attention_focus.csv"
ATTENTION_MATRIX_CSV = "results/{point}accuracy{split}_attention.csv"
ATTENTION_MATRIX_SD_CSV = "results/{point}accuracy{split}_attention_sd.csv"
ATTENTION_HEATMAP_PNG = "results/{point}plots/accuracy{split}_attention_heatmap.png"
ATTENTION_ALPHAS_PNG = "results/{point}plots/attention_alphas.png"
ATTENTION_TRAJECTORY_PNG = "results/{point}plots/attention_trajectory.png"
# The where network's run, read from its records and the point's run.json (reporting.run_description).
ATTENTION_RUN_JSON = "results/{point}attention_run.json"
ATTENTION_RUN_TXT = "results/{point}attention_run.txt"


def in_results(folder: str | Path, pattern: str, **wildcards) -> Path:
    """``pattern`` (one of the above) with ``wildcards`` filled in, inside the results folder
    ``folder`` instead of ``results/``; unnamed wildcards of point, run and split are empty."""
    values = {"point": "", "run": "", "split": "", **wildcards}
    return Path(folder) / pattern.removeprefix(RESULTS).format(**values)


# What the rules get from ``from mosaicfocus.runplan.result_files import *``: the patterns.
__all__ = [name for name in list(globals()) if name.isupper()]
