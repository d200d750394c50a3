from mosaicfocus.data.design import FOCUS_LEVELS
from mosaicfocus.files import atomic_path, write_json_atomic, write_text_atomic
from mosaicfocus.reporting.matrices import (
    accuracy_matrix,
    health_table,
    labelled_evaluations,
    labelled_records,
    learned_mask,
    learned_mean_and_sd,
    mean_and_sd,
    mean_sd_labels,
    status_labels,
    write_csv,
)
from mosaicfocus.reporting.plots import HEALTH_FOOTNOTE, plot_heatmap, plot_losses
from mosaicfocus.reporting.run_description import describe_run, format_description
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.health import STATUSES
from mosaicfocus.what_network.losstable import read_loss_table

SPLIT_TITLES = {"": "training-split mosaics", "_heldout": "held-out mosaics (CIFAR-10 test split)"}

replicates, splits = snakemake.params.replicates, snakemake.params.splits
inputs, outputs = snakemake.input, snakemake.output


with job_log(snakemake.log[0], "report", declared=snakemake.resources) as log:
    labels = snakemake.params.labels
    records = labelled_records(inputs.records, labels["records"])
    paths = {tuple(label): path for label, path in zip(labels["records"], inputs.records, strict=True)}
    description = describe_run({label: record["meta"] for label, record in records.items()}, paths)
    write_json_atomic(outputs.run_json, description)
    write_text_atomic(outputs.run_txt, format_description(description) + "\n")
    log("the run, from its records:\n" + format_description(description))
    health = health_table((r, level, records[r, level]["meta"]["health"]) for r in replicates for level in FOCUS_LEVELS)
    write_csv(health.set_index("replicate"), outputs.health, read_back=False)  # its statuses are text
    counts = health["status"].value_counts().reindex(STATUSES, fill_value=0)
    log("training health: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    learned = learned_mask(health, replicates)
    row_labels, flagged = status_labels(health, len(replicates))

    evaluations = labelled_evaluations(inputs.evaluations, labels["evaluations"])
    matrices = {split: [] for split in splits}
    for (replicate, split), matrix_path in zip(
        snakemake.params.replicate_splits, outputs.replicate_matrices, strict=True
    ):
        matrix = accuracy_matrix(evaluations[replicate, split])
        write_csv(matrix, matrix_path, read_back=True)  # the sweep and the where network's report
        matrices[split].append(matrix)

    n = len(replicates)
    for k, split in enumerate(splits):
        mean, sd = mean_and_sd(matrices[split])
        write_csv(mean, outputs.csv[k], read_back=True)  # the study and compare
        write_csv(sd, outputs.sd_csv[k], read_back=True)
        log(f"accuracy (%) on {SPLIT_TITLES[split]}, mean of {n} replicate(s):\n" + mean.round(2).to_string())
        title = f"Accuracy (%) on {SPLIT_TITLES[split]}" + (f", mean ± sd of {n} replicates" if n > 1 else "")
        with atomic_path(outputs.heatmap[k]) as tmp:
            plot_heatmap(
                mean,
                tmp,
                title=title,
                annotations=mean_sd_labels(mean, sd) if n > 1 else None,
                row_labels=row_labels,
                flagged_rows=flagged,
                footnote=HEALTH_FOOTNOTE if flagged else None,
            )
        learned_mean, learned_sd, n_learned = learned_mean_and_sd(matrices[split], learned)
        write_csv(learned_mean, outputs.learned_csv[k], read_back=True)  # the study
        write_csv(learned_sd, outputs.learned_sd_csv[k], read_back=True)
        with atomic_path(outputs.learned_heatmap[k]) as tmp:
            plot_heatmap(
                learned_mean,
                tmp,
                title=f"Accuracy (%) on {SPLIT_TITLES[split]}, models that learned only",
                annotations=mean_sd_labels(learned_mean, learned_sd),
                row_labels=[f"{level} (n = {int(n_learned[level])}/{n})" for level in FOCUS_LEVELS],
                flagged_rows=[level for level in FOCUS_LEVELS if n_learned[level] == 0],
                footnote="mean ± sd over the replicates whose model learned; empty rows: none did",
            )

    tables = {tuple(label): read_loss_table(path) for path, label in zip(inputs.losses, labels["losses"], strict=True)}
    curves = {level: [tables[r, level] for r in replicates] for level in FOCUS_LEVELS}
    with atomic_path(outputs.losses) as tmp:
        plot_losses(curves, tmp)
