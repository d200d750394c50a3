import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import json

import pandas as pd

from mosaicfocus.artifacts import atomic_path
from mosaicfocus.datasets import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.joblog import job_log
from mosaicfocus.report import accuracy_matrix, mean_and_sd, mean_curves, mean_sd_labels, plot_heatmap, plot_losses

params = snakemake.params
paths = params.paths
SPLIT_TITLES = {"": "training-split mosaics", "_heldout": "held-out mosaics (CIFAR-10 test split)"}


def write_csv(frame: pd.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp)


with job_log(snakemake.log[0], "report") as log:
    for split in params.splits:
        matrices = []
        for prefix in params.replicate_prefixes:
            records = [
                json.loads(Path(paths["evaluation"].format(rep=prefix, split=split, focus=i, dataset=j)).read_text())
                for i in FOCUS_LEVELS
                for j in ALL_DATASETS
            ]
            matrix = accuracy_matrix(records)
            write_csv(matrix, paths["replicate_matrix"].format(rep=prefix, split=split))
            matrices.append(matrix)
        mean, sd = mean_and_sd(matrices)
        write_csv(mean, paths["accuracy"].format(split=split))
        write_csv(sd, paths["accuracy_sd"].format(split=split))
        n = len(matrices)
        log(f"accuracy (%) on {SPLIT_TITLES[split]}, mean of {n} replicate(s):\n" + mean.round(2).to_string())
        title = f"Accuracy (%) on {SPLIT_TITLES[split]}" + (f", mean ± sd of {n} replicates" if n > 1 else "")
        with atomic_path(paths["heatmap"].format(split=split)) as tmp:
            plot_heatmap(mean, tmp, title=title, annotations=mean_sd_labels(mean, sd) if n > 1 else None)
    curves = []
    for prefix in params.replicate_prefixes:
        curves.append(
            {i: pd.read_csv(paths["loss"].format(rep=prefix, focus=i), sep="\t")["loss"].tolist() for i in FOCUS_LEVELS}
        )
    with atomic_path(snakemake.output.losses) as tmp:
        plot_losses(mean_curves(curves), tmp)
