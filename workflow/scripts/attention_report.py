import json
from pathlib import Path

import pandas as pd

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.files import atomic_path, write_json_atomic, write_text_atomic
from mosaicfocus.reporting.matrices import labelled_evaluations, mean_and_sd, write_csv
from mosaicfocus.reporting.plots import plot_alphas, plot_attention_heatmap, plot_trajectory
from mosaicfocus.reporting.run_description import describe_attention_run, format_attention_description
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.where_network.report import attention_matrix, closest_rows, closest_text, focus_table

SPLIT_NAMES = {"": "test", "_heldout": "heldout"}
SPLIT_TITLES = {"": "dataset 10's mosaics", "_heldout": "held-out mosaics (CIFAR-10 test split)"}
replicates, splits, labels = snakemake.params.replicates, snakemake.params.splits, snakemake.params.labels
inputs, outputs = snakemake.input, snakemake.output


def read(path):
    return json.loads(Path(path).read_text())


def labelled(kind):
    """The input files of one kind by the labels passed beside them: (replicate,) or (replicate, split)."""
    return {
        label[0] if len(label) == 1 else tuple(label): path
        for label, path in zip(labels[kind], inputs[kind], strict=True)
    }


with job_log(snakemake.log[0], "attention_report", declared=snakemake.resources) as log:
    n = len(replicates)
    focus, trajectories = labelled("focus"), labelled("trajectory")
    mosaics, matrices = labelled("mosaics"), labelled("matrices")
    # Every score of the row, the column and the corner, by (replicate, split), checked against its content.
    scores = labelled_evaluations(inputs.scores, labels["scores"])
    # The run, from the where network's own records and the what networks' run.json; records of
    # another run are refused before anything is written.
    focus_records = {r: read(focus[r]) for r in replicates}
    model_paths = labelled("records")
    description = describe_attention_run(
        focus_records,
        {r: read(model_paths[r])["meta"] for r in replicates},
        [score for split_scores in scores.values() for score in split_scores],
        read(inputs.run[0]),
        {"focus": focus, "records": model_paths, "run": inputs.run[0]},
    )
    write_json_atomic(outputs.run_json, description)
    write_text_atomic(outputs.run_txt, format_attention_description(description) + "\n")
    log("the where network's run, from its records:\n" + format_attention_description(description))
    records = [focus_records[r] for r in replicates]
    health = pd.read_csv(inputs.health[0])  # the fixed rows' training health (the report's table)
    table = focus_table(records, replicates, [SPLIT_NAMES[s] for s in splits])
    write_csv(table, outputs.focus, read_back=False, index=False)
    log("focus of the attention model, per replicate:\n" + table.round(3).to_string(index=False))

    for k, split in enumerate(splits):
        extended = []
        for r in replicates:
            accuracy = {(e["trained_on"], e["tested_on"]): e["accuracy"] for e in scores[r, split]}
            row = [accuracy["attention", dataset] for dataset in ALL_DATASETS]
            column = [accuracy[level, "learned"] for level in FOCUS_LEVELS]
            matrix = pd.read_csv(matrices[r, split], index_col="trained_on")
            extended.append(attention_matrix(matrix, row, column, accuracy["attention", "learned"]))
        mean, sd = mean_and_sd(extended)
        mean, sd = (frame.reindex(extended[0].index) for frame in (mean, sd))
        write_csv(mean, outputs.matrix[k], read_back=False)
        write_csv(sd, outputs.matrix_sd[k], read_back=False)
        nearest, distance = closest_rows(mean)
        log(f"{SPLIT_TITLES[split]}: nearest the attention row, {closest_text(nearest)} ({distance:.2f} points)")
        statuses = [record["health"]["status"] for record in records]
        with atomic_path(outputs.heatmap[k]) as tmp:
            plot_attention_heatmap(mean, sd, n, health, statuses, (nearest, distance), tmp, SPLIT_TITLES[split])

    alphas = [pd.read_csv(mosaics[r, ""], sep="\t")["foreground_alpha"].to_numpy() for r in replicates]
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
        plot_trajectory([pd.read_csv(trajectories[r], sep="\t") for r in replicates], tmp)
