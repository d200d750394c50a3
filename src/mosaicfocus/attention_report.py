"""The where network in the report: its focus counts per replicate, the distribution of the
foreground alphas against the nine fixed focus levels, the accuracy matrix with its extra row
and column, and the trajectory of training. Torch-free, as ``report``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .design import ALL_DATASETS, FOCUS_LEVELS, TILES
from .report import pyplot

ATTENTION_ROW = "attention"
LEARNED_COLUMN = "learned"
FOCUS_COLUMNS = [
    "accuracy",
    "ftpt",
    "ffpt",
    "ftpf",
    "ffpf",
    "foreground_alpha",
    "effective_focus",
    "max_alpha_at_least_half",
    "entropy_bits",
    "loss",
]


def focus_table(records: Sequence[Mapping], replicates: Sequence[int], splits: Sequence[str]) -> pd.DataFrame:
    """A row per replicate and split (the final focus metrics of ``focus.json``, the what network's
    health), then per split the mean, sd and n over replicates: the counts' spread stays visible."""
    rows = []
    for replicate, record in zip(replicates, records):
        for split in splits:
            rows.append(
                {
                    "replicate": str(replicate),
                    "mosaics": split,
                    **{c: record[split][c] for c in FOCUS_COLUMNS},
                    "status": record["health"]["status"],
                    "attempts": record["health"]["attempts"],
                }
            )
    table = pd.DataFrame(rows)
    if len(replicates) > 1:
        summaries = []
        for split in splits:
            part = table.loc[table["mosaics"] == split, FOCUS_COLUMNS]
            for name, values in (("mean", part.mean()), ("sd", part.std(ddof=1))):
                summaries.append({"replicate": name, "mosaics": split, **values.to_dict()})
            summaries.append({"replicate": "n", "mosaics": split, **{c: len(part) for c in FOCUS_COLUMNS}})
        table = pd.concat([table, pd.DataFrame(summaries)], ignore_index=True)
    return table


def attention_matrix(matrix: pd.DataFrame, row: Sequence[float], column: Sequence[float], corner: float):
    """The 9x10 matrix with the attention model's row (its what network on datasets 1..10) and the
    learned-focus column (each what network on the mosaics blended with the learned alphas)."""
    extended = matrix.copy()
    extended.index = extended.index.astype(object)
    extended[LEARNED_COLUMN] = list(column)
    extended.loc[ATTENTION_ROW] = [*row, corner]
    extended.index.name = "trained_on"
    return extended


def closest_row(extended: pd.DataFrame) -> tuple[int, float]:
    """The fixed focus level whose row is nearest the attention row (mean absolute difference
    over datasets 1..10), and that difference."""
    columns = [str(d) for d in ALL_DATASETS]
    fixed = extended.loc[list(FOCUS_LEVELS), columns].astype(float)
    distance = (fixed - extended.loc[ATTENTION_ROW, columns].astype(float).to_numpy()).abs().mean(axis=1)
    return int(distance.idxmin()), float(distance.min())


def plot_alphas(alphas: Sequence[np.ndarray], effective: Sequence[float], path, title: str) -> None:
    """Histogram of the per-mosaic foreground alphas (a step line per replicate), the nine fixed
    levels i/9 marked, and the mean (effective focus / 9)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    bins = np.linspace(0, 1, 91)
    for k, values in enumerate(alphas):
        weights = np.full(len(values), 100 / max(len(values), 1))
        label = f"replicate {k + 1}" if len(alphas) > 1 else "foreground alpha per mosaic"
        ax.hist(values, bins=bins, weights=weights, histtype="step", lw=1.5, label=label)
    for level in FOCUS_LEVELS:
        ax.axvline(level / TILES, color="gray", ls=":", lw=1)
        ax.text(level / TILES, 1.0, f"{level}/9", transform=ax.get_xaxis_transform(), ha="center", va="bottom")
    mean = float(np.mean(effective))
    ax.axvline(mean / TILES, color="firebrick", lw=2, label=f"mean = effective focus {mean:.2f} / 9")
    ax.set_xlabel("alpha on the foreground tile (the nine fixed focus levels give i/9)")
    ax.set_ylabel("% of mosaics")
    ax.set_title(title, pad=18)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_trajectory(trajectories: Sequence[pd.DataFrame], path) -> None:
    """Effective focus and FTPT against the epoch (top), the attention model's what network on
    datasets 1..10 against the epoch (bottom); a line per replicate's kept attempt."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 9), sharex=True)
    ftpt_axis = top.twinx()
    colours = plt.get_cmap("viridis")
    for k, table in enumerate(trajectories):
        kept = table[table["attempt"] == table["attempt"].max()]
        label = k == 0
        top.plot(kept["epoch"], kept["effective_focus"], color="tab:blue", label="effective focus" if label else None)
        ftpt_axis.plot(kept["epoch"], kept["ftpt"], color="tab:orange", ls="--", label="FTPT" if label else None)
        for j in ALL_DATASETS:
            bottom.plot(
                kept["epoch"],
                kept[f"accuracy_{j}"],
                color=colours((j - 1) / 9),
                label=(f"dataset {j}" if j < 10 else "dataset 10 (foregrounds)") if label else None,
            )
    top.set_ylim(0.8, 9.2)
    top.set_ylabel("effective focus level (9 x mean foreground alpha)")
    ftpt_axis.set_ylim(0, 100)
    ftpt_axis.set_ylabel("FTPT (% of training mosaics)")
    handles = top.get_legend_handles_labels()[0] + ftpt_axis.get_legend_handles_labels()[0]
    top.legend(handles=handles, loc="upper left", fontsize="small")
    top.set_title(
        "Attention model during training"
        + (f" ({len(trajectories)} replicates, a line each)" if len(trajectories) > 1 else "")
    )
    bottom.set_xlabel("epoch")
    bottom.set_ylabel("its what network's accuracy (%)")
    bottom.set_ylim(0, 100)
    bottom.legend(ncol=4, fontsize="small")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
