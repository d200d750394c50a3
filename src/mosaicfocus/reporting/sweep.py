"""Across a sweep's grid: one tidy table and the summary per swept key (drawn by ``plots``).
Torch-free, like the report."""

from __future__ import annotations

import pandas as pd


def tidy_accuracy(entries) -> pd.DataFrame:
    """One row per grid point x replicate x trained_on x tested_on.

    ``entries`` yields (point values, replicate, its 9x10 matrix, the point's health
    table). Columns: one per swept key (dotted name, typed value), ``replicate``,
    ``trained_on``, ``tested_on``, ``accuracy`` and the model's health ``status``.
    """
    rows = []
    for values, replicate, matrix, health in entries:
        status = health.set_index(["replicate", "trained_on"])["status"]
        for trained_on in matrix.index:
            for tested_on in matrix.columns:
                rows.append(
                    {
                        **values,
                        "replicate": replicate,
                        "trained_on": int(trained_on),
                        "tested_on": int(tested_on),
                        "accuracy": float(matrix.loc[trained_on, tested_on]),
                        "status": status[(replicate, int(trained_on))],
                    }
                )
    return pd.DataFrame(rows)


def point_label(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def transfer_summary(tidy: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per value of ``key`` and training focus level: the mean accuracy on dataset 10 and
    the mean off-diagonal accuracy on datasets 1..9, over replicates and the other keys."""
    off_diagonal = tidy[(tidy["tested_on"] <= 9) & (tidy["tested_on"] != tidy["trained_on"])]
    held_out = tidy[tidy["tested_on"] == 10]
    return pd.DataFrame(
        {
            "dataset_10": held_out.groupby([key, "trained_on"], sort=False)["accuracy"].mean(),
            "off_diagonal": off_diagonal.groupby([key, "trained_on"], sort=False)["accuracy"].mean(),
        }
    ).reset_index()
