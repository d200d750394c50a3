"""Every figure of the workflow: the accuracy heatmaps and loss curves, the where network's alphas and
trajectory, a sweep's grid and summaries, and the difference from the published study. Torch-free."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS, TILES
from mosaicfocus.reporting.matrices import mean_sd_labels, status_labels
from mosaicfocus.reporting.study import STUDY_BACKGROUND, STUDY_FOREGROUND, STUDY_OUTPUTS, StudyComparison
from mosaicfocus.reporting.sweep import point_label, transfer_summary
from mosaicfocus.where_network.report import ATTENTION_ROW, TIE_POINTS, closest_text


def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display), imported when a figure is first drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi: int = 120) -> None:
    """Write ``fig`` as a PNG and close it: pyplot keeps every figure alive until then."""
    fig.savefig(path, dpi=dpi, format="png")
    _pyplot().close(fig)


# Rule report; plot_heatmap also draws attention_report's extended matrix (plot_attention_heatmap).

# What a hatched row of a heatmap means (what_network.health's rule).
HEALTH_FOOTNOTE = (
    "hatched rows: not every model learned (dead: all 10 fc3 units silent for an epoch; plateau: loss > 0.95 ln C)"
)


def plot_heatmap(
    matrix: pd.DataFrame,
    path,
    title: str = "Accuracy (%)",
    annotations=None,
    row_labels: list[str] | None = None,
    flagged_rows: Iterable[int] = (),
    footnote: str | None = None,
    xlabel: str = "tested on dataset (1-9: focus level, 10: foreground only)",
) -> None:
    """Annotated heatmap: rows trained on, columns tested on. ``flagged_rows`` (trained-on
    levels) are hatched: their numbers do not come from networks that all learned."""
    import seaborn as sns
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 7.5))
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
    for level in flagged_rows:
        row = list(matrix.index).index(level)
        ax.add_patch(
            Rectangle(
                (0, row),
                matrix.shape[1],
                1,
                fill=True,
                facecolor=(1, 1, 1, 0.35),
                hatch="//",
                edgecolor="white",
                linewidth=0,
            )
        )
    if row_labels is not None:
        ax.set_yticks([k + 0.5 for k in range(len(row_labels))], row_labels, rotation=0)
        for tick, level in zip(ax.get_yticklabels(), matrix.index):
            if level in set(flagged_rows):
                tick.set_color("firebrick")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("trained on focus level")
    ax.set_title(title)
    if footnote:
        fig.text(
            0.01,
            0.01,
            footnote,
            fontsize="small",
            color="dimgray",
            ha="left",
            va="bottom",
            wrap=True,
        )
    # Room for the footnote below the axes: a line of it takes about 3% of the height and holds
    # about 170 characters (it wraps); one line keeps the 4% it always had.
    lines = sum(math.ceil(max(len(part), 1) / 170) for part in footnote.split("\n")) if footnote else 0
    fig.tight_layout(rect=(0, max(0.04, 0.03 * lines + 0.01) if footnote else 0, 1, 1))
    _save(fig, path)


def plot_attention_heatmap(
    mean: pd.DataFrame,
    sd: pd.DataFrame,
    replicates: int,
    health: pd.DataFrame,
    attention_statuses: Sequence[str],
    closest: tuple[Sequence[int], float],
    path,
    mosaics: str,
) -> list[int | str]:
    """accuracy{split}_attention_heatmap.png: the matrix with the attention model's row and the
    learned-focus column (``where_network.report.attention_matrix``), mean ± sd over ``replicates``,
    on ``mosaics`` (words). Rows are labelled and hatched by training health as on
    accuracy_heatmap.png (``matrices.status_labels``): the fixed rows by ``health``
    (results/training_health.csv), the attention row by its what network's status in each
    replicate; the attention row names the fixed row nearest it, or the rows tied for nearest
    (``where_network.report.closest_rows``: ``closest``). Returns the rows hatched."""
    levels, distance = closest
    attention = pd.DataFrame(
        {"replicate": range(1, len(attention_statuses) + 1), "trained_on": ATTENTION_ROW, "status": attention_statuses}
    )
    labels, flagged = status_labels(pd.concat([health, attention]), replicates, [*FOCUS_LEVELS, ATTENTION_ROW])
    labels[-1] += f"\n({closest_text(levels)})"
    footnote = (
        f"row {ATTENTION_ROW}: its what network on datasets 1..10; column learned: each what network on {mosaics} "
        "blended with the learned alphas; closest row by mean |difference| over datasets 1..10 "
        f"({distance:.2f} points; rows within {TIE_POINTS:g} points of it tie)"
    )
    plot_heatmap(
        mean,
        path,
        title=f"Accuracy (%) with the attention model, on {mosaics}"
        + (f", mean ± sd of {replicates} replicates" if replicates > 1 else ""),
        annotations=mean_sd_labels(mean, sd) if replicates > 1 else None,
        row_labels=labels,
        flagged_rows=flagged,
        footnote=footnote + ("\n" + HEALTH_FOOTNOTE if flagged else ""),
        xlabel="tested on dataset (1-9: focus level, 10: foreground only, learned: the focus network's alphas)",
    )
    return flagged


# The nine focus levels' colours on the loss curves: a qualitative palette of ten distinct colours.
LEVEL_PALETTE = "tab10"


def plot_losses(curves: Mapping[int, list[pd.DataFrame]], path) -> None:
    """Training loss per epoch: a colour per focus level from a qualitative palette (nine colours
    told apart, not shades of one scale), its number at the end of its line, a line per
    replicate's kept attempt; abandoned attempts dotted, with an x where they were abandoned.

    ``curves`` maps a focus level to one loss table (columns attempt, epoch, loss) per replicate.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6.5))
    colours = plt.get_cmap(LEVEL_PALETTE)
    replicates = max(len(tables) for tables in curves.values())
    abandoned_any = False
    ends = []  # (loss, epoch, level, colour) at the end of replicate 1's line: its direct label
    for level in sorted(curves):
        colour = colours(level - 1)
        for k, table in enumerate(curves[level]):
            kept = table["attempt"].max()
            for attempt, rows in table.groupby("attempt"):
                if attempt == kept:
                    label = f"trained on {level}" if k == 0 else None
                    ax.plot(
                        rows["epoch"],
                        rows["loss"],
                        color=colour,
                        lw=1.6 if replicates == 1 else 1,
                        alpha=0.9,
                        label=label,
                    )
                    end = rows.dropna(subset=["loss"]).tail(1)
                    if k == 0 and len(end):
                        ends.append((float(end["loss"].iloc[0]), float(end["epoch"].iloc[0]), level, colour))
                else:
                    abandoned_any = True
                    ax.plot(
                        rows["epoch"],
                        rows["loss"],
                        color=colour,
                        lw=1,
                        ls=":",
                        alpha=0.8,
                    )
                    last = rows.dropna(subset=["loss"]).tail(1)
                    if len(last):
                        ax.plot(
                            last["epoch"],
                            last["loss"],
                            "x",
                            color="firebrick",
                            ms=8,
                            mew=2,
                        )
    if abandoned_any:
        ax.plot(
            [],
            [],
            "x",
            color="firebrick",
            ms=8,
            mew=2,
            ls=":",
            label="attempt abandoned (dead)",
        )
    _label_line_ends(ax, ends)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (cross-entropy)")
    title = "Training loss per focus level"
    ax.set_title(title + (f" ({replicates} replicates, a line each)" if replicates > 1 else ""))
    ax.legend(ncol=3, fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def _label_line_ends(ax, ends: list[tuple[float, float, int, object]]) -> None:
    """Each line's level just right of its end, moved up where labels would overlap (lines that
    end at the same loss keep their labels apart, in the order of their losses)."""
    low, high = ax.get_ylim()
    gap, right = 0.035 * (high - low), 0.01 * np.subtract(*ax.get_xlim()[::-1])
    placed = -np.inf
    for loss, epoch, level, colour in sorted(ends, key=lambda end: end[:3]):
        placed = max(loss, placed + gap)
        ax.annotate(
            str(level),
            (epoch, loss),
            xytext=(epoch + right, placed),
            color=colour,
            fontsize="small",
            fontweight="bold",
            va="center",
        )


# Rule attention_report: the where network.


def plot_alphas(alphas: Sequence[np.ndarray], effective: Sequence[float], path, title: str) -> None:
    """Histogram of the per-mosaic foreground alphas (a step line per replicate), the nine fixed
    levels i/9 marked, and the mean (effective focus / 9)."""
    plt = _pyplot()
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
    _save(fig, path)


def plot_trajectory(trajectories: Sequence[pd.DataFrame], path) -> None:
    """Effective focus and FTPT against the epoch (top), the attention model's what network on
    datasets 1..10 against the epoch (bottom); a line per replicate's kept attempt."""
    plt = _pyplot()
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
    _save(fig, path)


# Rule sweep: the grid.


def plot_heatmaps(tidy: pd.DataFrame, keys: list[str], path) -> None:
    """The mean matrix of every grid point, side by side, on one colour scale (0-100%)."""
    import seaborn as sns

    plt = _pyplot()
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
            f"mean of {replicates} replicate(s); {learned}/{len(FOCUS_LEVELS) * replicates} models learned",
            fontsize="medium",
        )
        ax.set_xlabel("tested on dataset")
        ax.set_ylabel("trained on focus level")
    for ax in list(axes.flat)[len(points) :]:
        ax.axis("off")
    fig.colorbar(axes.flat[0].collections[0], ax=axes, label="accuracy (%)", shrink=0.8)
    _save(fig, path, dpi=100)


def plot_summary(tidy: pd.DataFrame, key: str, path) -> None:
    """Against the training focus level, one line per value of ``key``: accuracy on
    dataset 10 and the mean off-diagonal accuracy."""
    plt = _pyplot()
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
    _save(fig, path, dpi=110)


# Rule study: ours minus the published tables.

# Shared by the panels; beyond it colours saturate (row 1 against exp4 is ~47 points off), so the
# 1-3 point disagreements that matter next to seed noise stay visible. Every cell prints its number.
COLOUR_LIMIT = 5.0


def _panel_title(c: StudyComparison) -> str:
    title = f"minus published {c.table.key}: mean |difference| {c.mad:.2f}, Spearman {c.spearman:.3f}"
    if c.outside is None:
        return title
    tested = int((c.mean.notna() & c.sd.notna()).to_numpy().sum())
    return title + f", {int(c.outside.to_numpy().sum())} of {tested} cells outside mean ± 2 sd (*)"


def _draw_difference(ax, c: StudyComparison, limit: float) -> None:
    """One diverging heatmap of ``c.difference`` centred at 0; ``*`` and a black border mark ``c.outside``."""
    import seaborn as sns
    from matplotlib.patches import Rectangle

    values = c.difference.astype(float)
    flags = c.outside.to_numpy(dtype=bool) if c.outside is not None else np.zeros(values.shape, dtype=bool)
    labels = [
        ["" if np.isnan(v) else f"{v:+.1f}" + ("*" if flag else "") for v, flag in zip(row, flag_row)]
        for row, flag_row in zip(values.to_numpy(), flags)
    ]
    sns.heatmap(
        values,
        annot=np.array(labels, dtype=object),
        fmt="",
        cmap="RdBu_r",
        center=0,
        vmin=-limit,
        vmax=limit,
        cbar_kws={"label": "difference (percentage points)", "extend": "both"},
        ax=ax,
    )
    for r, col in zip(*np.nonzero(flags)):
        ax.add_patch(Rectangle((col, r), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
    ax.set_xlabel("tested on dataset (1-9: focus level, 10: foreground only)")
    ax.set_ylabel("trained on focus level")
    ax.set_title(_panel_title(c))


def plot_study_difference(
    comparisons: tuple[StudyComparison, ...],
    path,
    title: str = "Ours minus each published table (percentage points, from the interval midpoint)",
    limit: float = COLOUR_LIMIT,
) -> None:
    """One panel per comparison (``compare_with_tables``'s result), stacked, on one colour scale."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(comparisons), 1, figsize=(11, 6.5 * len(comparisons)), squeeze=False)
    for ax, c in zip(axes[:, 0], comparisons):
        _draw_difference(ax, c, limit)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_tables_do_not_apply(reasons: Sequence[str], path) -> None:
    """study_difference.png of a run the published tables do not describe: the reasons, in words,
    in place of a difference (``study.tables_do_not_apply``)."""
    import textwrap

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.axis("off")
    lines = ["The published tables do not apply to this run: no difference is drawn.", ""]
    lines += [textwrap.fill(f"- {reason}", 100, subsequent_indent="  ") for reason in reasons]
    design = (
        f"The tables were measured on CIFAR-10's images, {', '.join(STUDY_FOREGROUND)} among the other "
        f"{len(STUDY_BACKGROUND)} classes, a what network of {STUDY_OUTPUTS} outputs and the linear focus weights."
    )
    lines += ["", textwrap.fill(design, 100)]
    ax.text(0.02, 0.95, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize="large")
    fig.suptitle("Ours against the published tables")
    _save(fig, path)
