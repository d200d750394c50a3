"""Across a sweep's grid: one tidy table, the heatmaps side by side, a summary per swept key.

Torch-free, like the report.
"""

from __future__ import annotations

import math

import pandas as pd

from .report import pyplot


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


def plot_heatmaps(tidy: pd.DataFrame, keys: list[str], path) -> None:
    """The mean matrix of every grid point, side by side, on one colour scale (0-100%)."""
    import seaborn as sns

    plt = pyplot()
    points = list(tidy.groupby(keys, sort=False)) if keys else [((), tidy)]
    columns = min(3, len(points))
    rows = math.ceil(len(points) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.6 * rows), squeeze=False)
    for ax, (values, table) in zip(axes.flat, points, strict=False):
        values = values if isinstance(values, tuple) else (values,)
        matrix = table.pivot_table(index="trained_on", columns="tested_on", values="accuracy", aggfunc="mean")
        replicates = table["replicate"].nunique()
        learned = table.drop_duplicates(["replicate", "trained_on"])["status"].eq("learned").sum()
        sns.heatmap(matrix, vmin=0, vmax=100, cmap="viridis", annot=True, fmt=".0f", cbar=False, ax=ax)
        ax.set_title(
            f"{point_label(dict(zip(keys, values, strict=True)))}\n"
            f"mean of {replicates} replicate(s); {learned}/{9 * replicates} models learned",
            fontsize="medium",
        )
        ax.set_xlabel("tested on dataset")
        ax.set_ylabel("trained on focus level")
    for ax in list(axes.flat)[len(points) :]:
        ax.axis("off")
    fig.colorbar(axes.flat[0].collections[0], ax=axes, label="accuracy (%)", shrink=0.8)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


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


def plot_summary(tidy: pd.DataFrame, key: str, path) -> None:
    """Against the training focus level, one line per value of ``key``: accuracy on
    dataset 10 and the mean off-diagonal accuracy."""
    plt = pyplot()
    summary = transfer_summary(tidy, key)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, column, title in zip(
        axes,
        ("dataset_10", "off_diagonal"),
        ("accuracy on dataset 10 (foregrounds)", "mean off-diagonal accuracy (datasets 1-9)"),
        strict=True,
    ):
        for value, table in summary.groupby(key, sort=False):
            ax.plot(table["trained_on"], table[column], marker="o", label=f"{key}={value}")
        ax.set_title(title)
        ax.set_xlabel("trained on focus level")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%), mean over replicates and other swept keys")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
