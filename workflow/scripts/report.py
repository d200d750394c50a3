import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import json

import pandas as pd

from mosaicfocus.artifacts import atomic_path
from mosaicfocus.joblog import job_log
from mosaicfocus.report import accuracy_matrix, plot_heatmap, plot_losses

with job_log(snakemake.log[0], "report") as log:
    records = [json.loads(Path(p).read_text()) for p in snakemake.input.evaluations]
    matrix = accuracy_matrix(records)
    with atomic_path(snakemake.output.csv) as tmp:
        matrix.to_csv(tmp)
    log("accuracy (%):\n" + matrix.round(2).to_string())
    with atomic_path(snakemake.output.heatmap) as tmp:
        plot_heatmap(matrix, tmp, title="Accuracy (%) of the what network by focus level")
    losses = {}
    for path in snakemake.input.losses:
        table = pd.read_csv(path, sep="\t")
        losses[int(Path(path).stem.split("_")[-1])] = table["loss"].tolist()
    with atomic_path(snakemake.output.losses) as tmp:
        plot_losses(losses, tmp)
