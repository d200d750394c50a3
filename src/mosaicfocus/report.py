"""Aggregation: the 9x10 accuracy matrix, its heatmap and the training-loss curves."""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from .datasets import ALL_DATASETS, FOCUS_LEVELS


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_heatmap(matrix: pd.DataFrame, path, title: str = "Accuracy (%)", annotations=None) -> None:
    """Annotated heatmap: rows trained on, columns tested on."""
    import seaborn as sns

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 7))
    sns.heatmap(
        matrix.astype(float),
        annot=annotations if annotations is not None else True,
        fmt="" if annotations is not None else ".1f",
        cmap="viridis",
        vmin=0,
        vmax=100,
        cbar_kws={"label": "accuracy (%)"},
        ax=ax,
    )
    ax.set_xlabel("tested on dataset (1-9: focus level, 10: foreground only)")
    ax.set_ylabel("trained on focus level")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_losses(losses: Mapping[int, list[float]], path) -> None:
    """One line per trained model: epoch vs mean training loss."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 6))
    for level in sorted(losses):
        curve = losses[level]
        ax.plot(range(1, len(curve) + 1), curve, label=f"trained on {level}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (cross-entropy)")
    ax.set_title("Training loss per focus level")
    ax.legend(ncol=3, fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def mean_and_sd(matrices: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell-wise mean and sample standard deviation over replicates (sd is empty for one)."""
    stacked = pd.concat(matrices, keys=range(len(matrices)))
    grouped = stacked.groupby(level="trained_on", sort=True)
    return grouped.mean(), grouped.std(ddof=1)


def mean_sd_labels(mean: pd.DataFrame, sd: pd.DataFrame) -> list[list[str]]:
    """Heatmap cell texts: "mean ± sd" with replicates, the mean alone without."""
    return [
        [f"{m:.1f}" if pd.isna(s) else f"{m:.1f}\n± {s:.1f}" for m, s in zip(mean_row, sd_row)]
        for mean_row, sd_row in zip(mean.to_numpy(), sd.to_numpy())
    ]


def mean_curves(curves_per_replicate: list[Mapping[int, list[float]]]) -> dict[int, list[float]]:
    """Epoch-wise mean loss of each focus level over replicates."""
    levels = sorted(curves_per_replicate[0])
    return {
        level: [sum(values) / len(values) for values in zip(*(c[level] for c in curves_per_replicate))]
        for level in levels
    }
