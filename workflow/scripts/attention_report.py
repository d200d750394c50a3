import json
from pathlib import Path

import pandas as pd

from mosaicfocus.attention_report import ATTENTION_ROW, attention_matrix, closest_row, focus_table
from mosaicfocus.design import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.files import atomic_path
from mosaicfocus.joblog import job_log
from mosaicfocus.plots import plot_alphas, plot_heatmap, plot_trajectory
from mosaicfocus.report import mean_and_sd, mean_sd_labels

SPLIT_NAMES = {"": "test", "_heldout": "heldout"}
SPLIT_TITLES = {"": "dataset 10's mosaics", "_heldout": "held-out mosaics (CIFAR-10 test split)"}
replicates, splits = snakemake.params.replicates, snakemake.params.splits
inputs, outputs = snakemake.input, snakemake.output


def read(path):
    return json.loads(Path(path).read_text())


def groups(items, size):
    items = list(items)
    return [items[k : k + size] for k in range(0, len(items), size)]


def write_csv(frame, path, **options):
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **options)


with job_log(snakemake.log[0], "attention_report", declared=snakemake.resources) as log:
    n = len(replicates)
    records = [read(path) for path in inputs.focus]
    table = focus_table(records, replicates, [SPLIT_NAMES[s] for s in splits])
    write_csv(table, outputs.focus, index=False)
    log("focus of the attention model, per replicate:\n" + table.round(3).to_string(index=False))

    # Inputs replicate by replicate, split by split (attention.smk, attention_report_inputs).
    rows = groups(groups(inputs.rows, len(ALL_DATASETS)), len(splits))
    columns = groups(groups(inputs.columns, len(FOCUS_LEVELS)), len(splits))
    corners = groups(inputs.corners, len(splits))
    matrices = groups(inputs.matrices, len(splits))
    for k, split in enumerate(splits):
        extended = [
            attention_matrix(
                pd.read_csv(matrices[r][k], index_col="trained_on"),
                [read(p)["accuracy"] for p in rows[r][k]],
                [read(p)["accuracy"] for p in columns[r][k]],
                read(corners[r][k])["accuracy"],
            )
            for r in range(n)
        ]
        mean, sd = mean_and_sd(extended)
        mean, sd = (frame.reindex(extended[0].index) for frame in (mean, sd))
        write_csv(mean, outputs.matrix[k])
        write_csv(sd, outputs.matrix_sd[k])
        nearest, distance = closest_row(mean)
        log(f"{SPLIT_TITLES[split]}: the attention row is closest to focus level {nearest} ({distance:.2f} points)")
        labels = [str(level) for level in FOCUS_LEVELS] + [f"attention\n(closest: {nearest})"]
        with atomic_path(outputs.heatmap[k]) as tmp:
            plot_heatmap(
                mean,
                tmp,
                title=f"Accuracy (%) with the attention model, on {SPLIT_TITLES[split]}"
                + (f", mean ± sd of {n} replicates" if n > 1 else ""),
                annotations=mean_sd_labels(mean, sd) if n > 1 else None,
                row_labels=labels,
                footnote=f"row {ATTENTION_ROW}: its what network on datasets 1..10; column learned: each what "
                f"network on {SPLIT_TITLES[split]} blended with the learned alphas; closest row by mean |difference| "
                f"over datasets 1..10 ({distance:.2f} points)",
                xlabel="tested on dataset (1-9: focus level, 10: foreground only, learned: the focus network's alphas)",
            )

    alphas = [pd.read_csv(path, sep="\t")["foreground_alpha"].to_numpy() for path in inputs.mosaics[:: len(splits)]]
    effective = [record["test"]["effective_focus"] for record in records]
    spread = f" ± {pd.Series(effective).std(ddof=1):.2f} (sd, n = {n})" if n > 1 else ""
    with atomic_path(outputs.alphas) as tmp:
        plot_alphas(
            alphas,
            effective,
            tmp,
            title=f"Foreground alpha per mosaic of dataset 10's mosaics: effective focus "
            f"{pd.Series(effective).mean():.2f}{spread}",
        )
    with atomic_path(outputs.trajectory) as tmp:
        plot_trajectory([pd.read_csv(path, sep="\t") for path in inputs.trajectory], tmp)
