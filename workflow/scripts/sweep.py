import json
from pathlib import Path

import pandas as pd

from mosaicfocus.files import atomic_path, write_json_atomic, write_text_atomic
from mosaicfocus.reporting.matrices import write_csv
from mosaicfocus.reporting.plots import plot_heatmaps, plot_summary
from mosaicfocus.reporting.run_description import describe_sweep, format_sweep
from mosaicfocus.reporting.sweep import tidy_accuracy
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.runplan.runs import point_values

params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
keys = list(params.sweep)


def by_point(kind):
    """A point's files of one kind, labelled (point,), by point."""
    return {point: path for (point,), path in zip(params.labels[kind], inputs[kind], strict=True)}


with job_log(snakemake.log[0], "sweep", declared=snakemake.resources) as log:
    # Which run made each point, from its run.json (and attention_run.json where the where
    # network's keys are swept): a point whose run holds other values than its folder is refused.
    paths = {"runs": by_point("runs")}
    if "attention_runs" in params.labels:
        paths["attention"] = by_point("attention_runs")
    read = {
        kind: {point: json.loads(Path(path).read_text()) for point, path in found.items()}
        for kind, found in paths.items()
    }
    points = [(point, point_values(point, params.sweep)) for point in paths["runs"]]
    runs = describe_sweep(points, read["runs"], paths, read.get("attention"))
    write_json_atomic(outputs.runs_json, runs)
    write_text_atomic(outputs.runs_txt, format_sweep(runs) + "\n")
    log("the run of each grid point:\n" + format_sweep(runs))
    # Each file by the label passed beside it: (point,) for a health table, (point, replicate) for a matrix.
    health = {point: pd.read_csv(path) for point, path in by_point("health").items()}
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
