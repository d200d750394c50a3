import pandas as pd

from mosaicfocus.files import atomic_path
from mosaicfocus.joblog import job_log
from mosaicfocus.plots import plot_heatmaps, plot_summary
from mosaicfocus.runs import point_values
from mosaicfocus.sweep import tidy_accuracy

params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
keys = list(params.sweep)
with job_log(snakemake.log[0], "sweep", declared=snakemake.resources) as log:
    matrices = iter(inputs.matrices)  # point by point, replicate by replicate
    entries = []
    for point, health_path in zip(params.points, inputs.health, strict=True):
        health = pd.read_csv(health_path)
        for replicate in params.replicates:
            matrix = pd.read_csv(next(matrices), index_col="trained_on")
            entries.append((point_values(point, params.sweep), replicate, matrix, health))
    tidy = tidy_accuracy(entries)
    with atomic_path(outputs.csv) as tmp:
        tidy.to_csv(tmp, index=False)
    log(f"{len(params.points)} grid points x {len(params.replicates)} replicate(s): {len(tidy)} rows")
    with atomic_path(outputs.heatmaps) as tmp:
        plot_heatmaps(tidy, keys, tmp)
    for key, path in zip(keys, outputs.summaries, strict=True):
        with atomic_path(path) as tmp:
            plot_summary(tidy, key, tmp)
