import pandas as pd

from mosaicfocus.files import atomic_path
from mosaicfocus.reporting.matrices import write_csv
from mosaicfocus.reporting.plots import plot_heatmaps, plot_summary
from mosaicfocus.reporting.sweep import tidy_accuracy
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.runplan.runs import point_values

params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
keys = list(params.sweep)
with job_log(snakemake.log[0], "sweep", declared=snakemake.resources) as log:
    # Each file by the label passed beside it: (point,) for a health table, (point, replicate) for a matrix.
    health = {point: pd.read_csv(path) for (point,), path in zip(params.labels["health"], inputs.health, strict=True)}
    entries = [
        (point_values(point, params.sweep), replicate, pd.read_csv(path, index_col="trained_on"), health[point])
        for (point, replicate), path in zip(params.labels["matrices"], inputs.matrices, strict=True)
    ]
    tidy = tidy_accuracy(entries)
    write_csv(tidy, outputs.csv, read_back=False, index=False)
    replicates = {replicate for _, replicate in params.labels["matrices"]}
    log(f"{len(health)} grid points x {len(replicates)} replicate(s): {len(tidy)} rows")
    with atomic_path(outputs.heatmaps) as tmp:
        plot_heatmaps(tidy, keys, tmp)
    for key, path in zip(keys, outputs.summaries, strict=True):
        with atomic_path(path) as tmp:
            plot_summary(tidy, key, tmp)
