"""Aggregation: the 9x10 accuracy matrices, their mean and sd over replicates, and the training-health table.
Torch-free: the report's environment has no torch (its figures are in ``plots``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.files import atomic_path
from mosaicfocus.what_network.health import HEALTH_COLUMNS, STOP_COLUMNS, health_row


def accuracy_matrix(records: Iterable[Mapping]) -> pd.DataFrame:
    """Rows ``trained_on`` 1..9, columns ``"1"``..``"10"``, accuracy in percent."""
    table = pd.DataFrame(list(records))
    matrix = table.pivot(index="trained_on", columns="tested_on", values="accuracy")
    matrix = matrix.reindex(index=list(FOCUS_LEVELS), columns=list(ALL_DATASETS))
    missing = [(i, j) for i in matrix.index for j in matrix.columns if pd.isna(matrix.loc[i, j])]
    if missing:
        raise ValueError(f"missing evaluation results for (trained_on, tested_on) {missing}")
    matrix.columns = [str(c) for c in matrix.columns]
    matrix.index.name = "trained_on"
    return matrix


SPLIT_SUFFIX = {"train": "", "heldout": "_heldout"}  # an evaluation's tested_split -> its path's split


def labelled_evaluations(paths, labels) -> dict[tuple[int, str], list[dict]]:
    """Each evaluation JSON filed under the (replicate, split) of its label
    ``(replicate, split, trained_on, tested_on)``; a file whose content names another
    trained_on, tested_on or split is refused: the inputs and their labels are out of step."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for path, (replicate, split, trained_on, tested_on) in zip(paths, labels, strict=True):
        record = json.loads(Path(path).read_text())
        found = (record["trained_on"], record["tested_on"], SPLIT_SUFFIX[record["tested_split"]])
        if found != (trained_on, tested_on, split):
            raise ValueError(
                f"{path} holds trained_on {found[0]}, tested_on {found[1]}, split {found[2]!r}, but was "
                f"passed as trained_on {trained_on}, tested_on {tested_on}, split {split!r} of replicate "
                f"{replicate}: the report's inputs and their labels are out of step"
            )
        groups.setdefault((replicate, split), []).append(record)
    return groups


def labelled_records(paths, labels) -> dict[tuple[int, int], dict]:
    """Each weights' record under its label ``(replicate, trained_on)``, refusing one made for
    another focus level."""
    records = {}
    for path, (replicate, trained_on) in zip(paths, labels, strict=True):
        record = json.loads(Path(path).read_text())
        if record["meta"]["trained_on"] != trained_on:
            raise ValueError(
                f"{path} is the record of the model trained on {record['meta']['trained_on']}, but was passed "
                f"as trained_on {trained_on} of replicate {replicate}: the report's inputs and their labels "
                "are out of step"
            )
        records[replicate, trained_on] = record
    return records


def health_table(records: Iterable[tuple[int, int, dict]]) -> pd.DataFrame:
    """results/training_health.csv: a row per (replicate, trained_on, health record)."""
    rows = [health_row(replicate, level, health) for replicate, level, health in records]
    # With train.stop_loss, the epoch each model stopped after (empty: it trained every epoch).
    columns = HEALTH_COLUMNS + [column for column in STOP_COLUMNS if any(column in row for row in rows)]
    table = pd.DataFrame(rows, columns=columns).sort_values(["replicate", "trained_on"], ignore_index=True)
    epochs = ["learning_epoch", "died_at_epoch", *columns[len(HEALTH_COLUMNS) :]]
    return table.astype(dict.fromkeys(epochs, "Int64"))  # epochs, or empty for none


def learned_mask(health: pd.DataFrame, replicates: list[int]) -> pd.DataFrame:
    """Rows trained_on 1..9, a column per replicate: True where that model's status is learned."""
    status = health.pivot(index="trained_on", columns="replicate", values="status")
    status = status.reindex(index=list(FOCUS_LEVELS), columns=replicates)
    return status == "learned"


def learned_mean_and_sd(
    matrices: list[pd.DataFrame], learned: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Mean and sd of each row over the replicates whose model learned, and their number.

    ``learned`` is ``learned_mask``'s table, its columns in the order of ``matrices``.
    A row with no learned model is NaN; with one, its sd is NaN.
    """
    masked = [
        matrix.where(np.broadcast_to(learned.iloc[:, k].to_numpy(dtype=bool)[:, None], matrix.shape))
        for k, matrix in enumerate(matrices)
    ]
    grouped = pd.concat(masked).groupby(level="trained_on")
    index = list(FOCUS_LEVELS)
    return (
        grouped.mean().reindex(index),
        grouped.std(ddof=1).reindex(index),
        learned.sum(axis=1).reindex(index),
    )


def status_labels(
    health: pd.DataFrame, replicates: int, levels: Sequence[int | str] = FOCUS_LEVELS
) -> tuple[list[str], list[int | str]]:
    """Heatmap row labels and the rows to flag, for the rows ``levels`` (``trained_on`` values of
    ``health``): the status of a single run's model, or "n/N learned" over replicates; a row is
    flagged unless all its models learned."""
    labels, flagged = [], []
    for level in levels:
        statuses = health.loc[health["trained_on"] == level, "status"].tolist()
        learned = statuses.count("learned")
        if replicates == 1:
            status = statuses[0] if statuses else "missing"
            labels.append(str(level) if status == "learned" else f"{level} ({status})")
        else:
            labels.append(f"{level} ({learned}/{len(statuses)} learned)")
        if learned < len(statuses) or not statuses:
            flagged.append(level)
    return labels, flagged


def mean_and_sd(matrices: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell-wise mean and sample standard deviation over replicates (sd is empty for one)."""
    stacked = pd.concat(matrices, keys=range(len(matrices)))
    grouped = stacked.groupby(level="trained_on", sort=True)
    return grouped.mean(), grouped.std(ddof=1)


def mean_sd_labels(mean: pd.DataFrame, sd: pd.DataFrame) -> list[list[str]]:
    """Heatmap cell texts: "mean ± sd" with replicates, the mean alone without."""
    return [
        ["" if pd.isna(m) else f"{m:.1f}" if pd.isna(s) else f"{m:.1f}\n± {s:.1f}" for m, s in zip(mean_row, sd_row)]
        for mean_row, sd_row in zip(mean.to_numpy(), sd.to_numpy())
    ]


# The CSVs the report writes for people, whose values no later step reads back (the where network's
# matrix, its sd and its focus table, the sweep's tidy table, the health table's losses and
# accuracies): six significant digits, so a percentage from 10 to 99.9999 keeps 4 decimals (0.0001
# points, a hundredth of one image in 10,000) and a loss or an alpha below 1 six. The matrices a
# later step reads back (eval*/accuracy.csv: the sweep and the where network's report;
# accuracy*.csv: the study and compare) keep every digit.
REPORT_FLOAT_FORMAT = "%.6g"


def write_csv(frame: pd.DataFrame, path, *, read_back: bool, **options) -> None:
    """``frame`` as a CSV file at ``path``, written atomically: every digit of every value where a
    later step reads the values back (``read_back``), else ``REPORT_FLOAT_FORMAT``."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, float_format=None if read_back else REPORT_FLOAT_FORMAT, **options)
