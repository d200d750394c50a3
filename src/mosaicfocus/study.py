"""Our accuracy matrix against the ones the published study printed.

The authors' repository prints this experiment's matrix twice, on two pages and
with different numbers (``PUBLISHED_TABLES``). Both print whole percents
TRUNCATED, not rounded: a published ``p`` means the true accuracy lay in
``[p, p + 1)``, and ``p = 100`` means exactly 100 (it cannot exceed it).
Differences are therefore taken from the interval midpoint (``p + 0.5``, or
100), which removes the half-point bias that comparing with ``p`` itself would
add to every cell; the consistency test uses the interval itself, so 52.9 is
consistent with a printed 52. Torch-free on purpose: this runs on any copy of
``results/`` without the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import ACCURACY_CSV, ACCURACY_SD_CSV, HEALTH_CSV, LEARNED_CSV, LEARNED_SD_CSV, in_results
from .report import learned_mask

MIN_REPLICATES = 3  # below this a sample sd says too little for a 2-sd test


@dataclass(frozen=True)
class PublishedTable:
    """One matrix the study's authors printed for this experiment, and the page it is copied from."""

    key: str  # short name used in reports
    label: str  # what it is, in words
    page: str  # path of the page in the authors' repository
    csv: Path  # the printed values, laid out like results/accuracy.csv


PUBLISHED_TABLES = (
    PublishedTable(
        key="exp4",
        label="the Exp 4 page's table (the one shipped first)",
        page="1_Attention_CIFAR_Mosaic/5_Exp_4_testing_what_network_with_different_where_network_"
        "cnn_net_10k_mosaic_dataset/readme.md",
        csv=Path(__file__).with_name("published_accuracy_exp4.csv"),
    ),
    PublishedTable(
        key="cnn_net_10k",
        label="the second run's table, beside a notebook named for lr 0.01 and 200 epochs",
        page="1_mosaic_data_attention_experiments/2_testing_what_network_with_different_where_network/"
        "4_cnn_net_10k/readme.md",
        csv=Path(__file__).with_name("published_accuracy_cnn_net_10k.csv"),
    ),
)


def published_matrix(table: PublishedTable = PUBLISHED_TABLES[0]) -> pd.DataFrame:
    """A published matrix as printed (truncated whole percents), laid out like results/accuracy.csv."""
    return pd.read_csv(table.csv, index_col="trained_on")


def published_interval(published: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lower and upper bound of each true value: ``[p, p + 1)``, or ``[100, 100]`` for 100."""
    low = published.astype(float)
    return low, low.where(low >= 100, low + 1)


def published_midpoint(published: pd.DataFrame) -> pd.DataFrame:
    """Best single estimate of a truncated percent: the middle of ``[p, p + 1)``; 100 stays 100."""
    low, high = published_interval(published)
    return (low + high) / 2


def misses_interval(
    lower: pd.DataFrame, upper: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame, high_closed: pd.DataFrame
) -> pd.DataFrame:
    """True where ``[lower, upper]`` shares no value with the interval from ``low`` to ``high``.

    The interval's upper end is open (a printed p < 100 means ``[p, p + 1)``) except where
    ``high_closed`` (a printed 100 means exactly 100).
    """
    return (upper < low) | (lower > high).where(high_closed, lower >= high)


@dataclass(frozen=True)
class StudyComparison:
    difference: pd.DataFrame  # ours - published midpoint, percentage points; NaN where ours is NaN
    mad: float  # mean |difference| over the cells we have
    mad_per_row: pd.Series  # per trained-on focus level; NaN for a row with no values
    spearman: float  # rank correlation over the cells we have
    outside: pd.DataFrame | None  # True: [p, p+1) misses mean ± 2 sd; None below 3 replicates or without sd
    skipped: list[tuple[int, str]]  # cells whose mean is NaN, left out of every statistic
    mean: pd.DataFrame
    sd: pd.DataFrame | None
    published: pd.DataFrame
    n: int
    table: PublishedTable  # which published matrix ``published`` is


def _check_layout(frame: pd.DataFrame, name: str, published: pd.DataFrame) -> None:
    if frame.shape != published.shape:
        raise ValueError(f"{name} has shape {frame.shape}; the published matrix is {published.shape} (9 x 10)")
    if list(frame.index) != list(published.index):
        raise ValueError(f"{name} has rows {list(frame.index)}; expected trained_on {list(published.index)}")
    if list(frame.columns) != list(published.columns):
        raise ValueError(f"{name} has columns {list(frame.columns)}; expected {list(published.columns)}")


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Pearson correlation of average ranks (scipy's spearmanr without scipy); NaN if undefined."""
    ranks_a, ranks_b = a.rank(method="average").to_numpy(), b.rank(method="average").to_numpy()
    if len(ranks_a) < 2 or ranks_a.std() == 0 or ranks_b.std() == 0:
        return float("nan")
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def _nan_mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def compare_with_study(
    mean: pd.DataFrame, sd: pd.DataFrame | None = None, n: int = 1, table: PublishedTable = PUBLISHED_TABLES[0]
) -> StudyComparison:
    """Compare our mean matrix (and sd over ``n`` replicates) with one published matrix.

    NaN cells of ``mean`` are skipped by every statistic and listed in ``skipped``.
    ``outside`` needs ``n >= 3`` and ``sd``; a cell without sd is never marked.
    """
    published = published_matrix(table)
    _check_layout(mean, "mean", published)
    if sd is not None:
        _check_layout(sd, "sd", published)
    mean = mean.astype(float)
    difference = mean - published_midpoint(published)
    valid = mean.notna()
    skipped = [(i, j) for i in mean.index for j in mean.columns if not valid.loc[i, j]]
    mad_per_row = pd.Series([_nan_mean(row) for row in difference.abs().to_numpy()], index=mean.index, name="mad")
    ours, theirs = mean.to_numpy().ravel(), published.to_numpy(dtype=float).ravel()
    keep = valid.to_numpy().ravel()
    outside = None
    if sd is not None and n >= MIN_REPLICATES:
        sd = sd.astype(float)
        low, high = published_interval(published)
        misses = misses_interval(mean - 2 * sd, mean + 2 * sd, low, high, published >= 100)
        outside = misses & valid & sd.notna()
    return StudyComparison(
        difference=difference,
        mad=_nan_mean(np.abs(difference.to_numpy().ravel())),
        mad_per_row=mad_per_row,
        spearman=_spearman(pd.Series(ours[keep]), pd.Series(theirs[keep])),
        outside=outside,
        skipped=skipped,
        mean=mean,
        sd=sd,
        published=published,
        n=n,
        table=table,
    )


def compare_with_tables(mean: pd.DataFrame, sd: pd.DataFrame | None = None, n: int = 1) -> tuple[StudyComparison, ...]:
    """``compare_with_study`` against every published table, in ``PUBLISHED_TABLES`` order."""
    return tuple(compare_with_study(mean, sd, n, table) for table in PUBLISHED_TABLES)


def compare_published_tables(
    first: PublishedTable = PUBLISHED_TABLES[0], second: PublishedTable = PUBLISHED_TABLES[1]
) -> StudyComparison:
    """How far apart the two printed matrices are: ``second``'s midpoints compared with ``first``."""
    return compare_with_study(published_midpoint(published_matrix(second)), table=first)


# classify_reproduction's classes, besides "<key> only" for a cell consistent with one table alone
BOTH, BETWEEN, BEYOND = "both", "between", "beyond"


def classify_reproduction(first: StudyComparison, second: StudyComparison) -> pd.DataFrame | None:
    """Per cell, which published tables our mean ± 2 sd is consistent with.

    ``first`` and ``second`` compare the same mean and sd with two tables. A cell is
    ``both``, ``<key> only`` (consistent with that table's interval alone), ``between``
    (with neither, but inside the span from the lower table's interval to the higher's:
    the tables disagree and ours lies in the gap they leave), ``beyond`` (outside that
    span), or NaN where it has no mean or sd. None where the 2-sd test was not run.
    """
    if first.outside is None or second.outside is None:
        return None
    if not (first.mean.equals(second.mean) and first.sd.equals(second.sd)):
        raise ValueError("the two comparisons are of different means or sds")
    low_first, high_first = published_interval(first.published)
    low_second, high_second = published_interval(second.published)
    # The span is the smallest interval holding both; it ends closed where either table printed 100.
    span_low = low_first.where(low_first <= low_second, low_second)
    span_high = high_first.where(high_first >= high_second, high_second)
    span_closed = (first.published >= 100) | (second.published >= 100)
    lower, upper = first.mean - 2 * first.sd, first.mean + 2 * first.sd
    in_span = ~misses_interval(lower, upper, span_low, span_high, span_closed)
    meets_first, meets_second = ~first.outside, ~second.outside
    classes = np.select(
        [meets_first & meets_second, meets_first, meets_second, in_span],
        [BOTH, f"{first.table.key} only", f"{second.table.key} only", BETWEEN],
        BEYOND,
    )
    tested = first.mean.notna() & first.sd.notna()
    return pd.DataFrame(classes, index=first.mean.index, columns=first.mean.columns).where(tested)


def _published_text(p: float) -> str:
    return "100 (exactly)" if p >= 100 else f"{p:.0f} (true value in [{p:.0f}, {p + 1:.0f}))"


def _per_row_text(mad_per_row: pd.Series) -> str:
    return "mean |difference| per row (trained on): " + ", ".join(
        f"{i}: {'n/a' if pd.isna(v) else f'{v:.2f}'}" for i, v in mad_per_row.items()
    )


def format_study_report(comparison: StudyComparison, label: str = "results") -> str:
    """Plain-text report: difference matrix, MAD, Spearman rho and the 2-sd consistency test."""
    c = comparison
    key = c.table.key
    lines = [
        f"accuracy difference, percentage points ({label} - published {key} midpoint p + 0.5, since the study "
        "truncated to whole percent; 100 stays 100); rows trained on, columns tested on"
    ]
    lines.append(c.difference.to_string(float_format=lambda v: f"{v:+.2f}"))
    used = c.difference.size - len(c.skipped)
    lines.append(f"mean |difference|: {c.mad:.3f} points over {used} of {c.difference.size} cells")
    lines.append(_per_row_text(c.mad_per_row))
    lines.append(f"Spearman rank correlation (ours vs published {key}, {used} cells): {c.spearman:.4f}")
    if c.skipped:
        rows = [i for i in c.mean.index if c.mean.loc[i].isna().all()]
        cells = [cell for cell in c.skipped if cell[0] not in rows]
        parts = [f"row {i} (no values)" for i in rows] + [f"({i},{j})" for i, j in cells]
        lines.append(f"skipped, NaN in {label}: " + ", ".join(parts))
    if c.outside is None:
        why = "no sd given" if c.sd is None and c.n >= MIN_REPLICATES else f"n = {c.n}"
        if c.n == 0:
            why = "n = 0: no replicate matrices found"
        lines.append(
            f"consistency test (published within mean ± 2 sd) needs >= {MIN_REPLICATES} replicates "
            f"and their sd ({why}): not run"
        )
        return "\n".join(lines)
    tested = int((c.mean.notna() & c.sd.notna()).to_numpy().sum())
    flagged = [(i, j) for i in c.outside.index for j in c.outside.columns if c.outside.loc[i, j]]
    lines.append(
        f"consistency: {len(flagged)} of {tested} cells have the published {key} interval outside mean ± 2 sd "
        f"(n = {c.n} replicates)"
    )
    for i, j in flagged:
        lines.append(
            f"  ({i},{j}) {label} {c.mean.loc[i, j]:.2f} ± {c.sd.loc[i, j]:.2f} "
            f"vs published {key} {_published_text(float(c.published.loc[i, j]))}"
        )
    return "\n".join(lines)


def format_tables_difference(
    first: PublishedTable = PUBLISHED_TABLES[0], second: PublishedTable = PUBLISHED_TABLES[1]
) -> str:
    """How the two printed matrices differ: the difference of their midpoints, its MAD and Spearman rho."""
    c = compare_published_tables(first, second)
    same = int((published_matrix(first) == published_matrix(second)).to_numpy().sum())
    return "\n".join(
        [
            f"accuracy difference, percentage points (published {second.key} - published {first.key}, "
            "interval midpoints); rows trained on, columns tested on",
            c.difference.to_string(float_format=lambda v: f"{v:+.2f}"),
            f"mean |difference|: {c.mad:.3f} points over {c.difference.size} cells "
            f"(the same printed value in {same} of them)",
            _per_row_text(c.mad_per_row),
            f"Spearman rank correlation ({second.key} vs {first.key}): {c.spearman:.4f}",
        ]
    )


def format_reproduction(first: StudyComparison, second: StudyComparison, label: str = "results") -> str:
    """Counts of ``classify_reproduction``'s classes, and the cells consistent with neither table."""
    classes = classify_reproduction(first, second)
    if classes is None:
        return "reproduction against both tables needs the 2-sd test: not run"
    one, other = first.table.key, second.table.key
    counts = pd.Series(classes.to_numpy().ravel()).value_counts()  # NaN (untested) is not counted
    order = [BOTH, f"{one} only", f"{other} only", BETWEEN, BEYOND]
    tested = int(counts.sum())
    reproduces = int(counts.reindex(order[:3], fill_value=0).sum())
    lines = [
        f"A cell reproduces a published table when {label} mean ± 2 sd meets that table's interval "
        f"(n = {first.n} replicates).",
        f"'{BETWEEN}': it meets neither, but lies in the gap between the two tables' intervals; "
        f"'{BEYOND}': it misses the whole span the two cover.",
        ", ".join(f"{name}: {int(counts.get(name, 0))}" for name in order) + f" (of {tested} cells tested)",
        f"reproduces at least one table: {reproduces} of {tested}; "
        f"within the span of the two: {reproduces + int(counts.get(BETWEEN, 0))}",
    ]
    for i, j in ((i, j) for i in classes.index for j in classes.columns):
        if classes.loc[i, j] in (BETWEEN, BEYOND):
            lines.append(
                f"  ({i},{j}) {classes.loc[i, j]}: {label} {first.mean.loc[i, j]:.2f} ± {first.sd.loc[i, j]:.2f} "
                f"vs {one} {_published_text(float(first.published.loc[i, j]))}, "
                f"{other} {_published_text(float(second.published.loc[i, j]))}"
            )
    return "\n".join(lines)


def format_against_tables(comparisons: tuple[StudyComparison, ...], label: str = "results") -> str:
    """One report per published table, then which cells reproduce which (``compare_with_tables``'s result)."""
    sections = []
    for c in comparisons:
        sections += [f"-- against published {c.table.key} --", format_study_report(c, label), ""]
    return "\n".join(sections + [f"-- {label} against both tables --", format_reproduction(*comparisons, label)])


def tables_legend() -> str:
    return "\n".join(f"published {t.key}: {t.label}; {t.page}" for t in PUBLISHED_TABLES)


@dataclass(frozen=True)
class Verdict:
    """Our results against the study's published tables: the learned-only mean (the networks
    the study's reading assumes) and the plain mean over all runs, with what each rests on."""

    learned: tuple[StudyComparison, ...]  # one per PUBLISHED_TABLES entry, in that order
    all_runs: tuple[StudyComparison, ...]
    n_learned: pd.Series  # per trained-on level
    n: int

    @property
    def reproduction(self) -> pd.DataFrame | None:
        """``classify_reproduction`` of the learned-only mean."""
        return classify_reproduction(*self.learned)

    def text(self) -> str:
        n_text = ", ".join(f"{level}: {int(k)}/{self.n}" for level, k in self.n_learned.items())
        lines = [
            f"Against the published study's {len(PUBLISHED_TABLES)} tables of this experiment "
            f"({self.n} replicate(s)); models that learned, per row: {n_text}.",
            f"The 2-sd test uses rows with >= {MIN_REPLICATES} learned models only.",
            tables_legend(),
            "",
            "== The two published tables against each other ==",
            format_tables_difference(),
            "",
            "== Mean over the models that learned ==",
            format_against_tables(self.learned, label="ours (learned)"),
            "",
            "== Mean over all runs (dead and plateau models included) ==",
        ]
        for c in self.all_runs:
            lines += [
                f"against published {c.table.key}: mean |difference|: {c.mad:.3f} points; "
                f"Spearman rank correlation: {c.spearman:.4f}",
                "  " + _per_row_text(c.mad_per_row),
            ]
        return "\n".join(lines)


def verdict(
    mean: pd.DataFrame,
    sd: pd.DataFrame,
    learned_mean: pd.DataFrame,
    learned_sd: pd.DataFrame,
    health: pd.DataFrame,
) -> Verdict:
    """Compare both means with every published table; ``health`` is results/training_health.csv."""
    replicates = sorted(health["replicate"].unique())
    n = len(replicates)
    n_learned = learned_mask(health, replicates).sum(axis=1)
    # A row's sd means little below MIN_REPLICATES learned models: no 2-sd test there.
    sd_for_test = learned_sd.where(np.broadcast_to((n_learned >= MIN_REPLICATES).to_numpy()[:, None], sd.shape))
    return Verdict(
        learned=compare_with_tables(learned_mean, sd_for_test, n),
        all_runs=compare_with_tables(mean, sd if n > 1 else None, n),
        n_learned=n_learned,
        n=n,
    )


def read_verdict(folder: str | Path) -> Verdict:
    """``verdict`` of a results folder (accuracy*.csv and training_health.csv)."""
    patterns = (ACCURACY_CSV, ACCURACY_SD_CSV, LEARNED_CSV, LEARNED_SD_CSV, HEALTH_CSV)
    return read_verdict_files(*(in_results(folder, pattern) for pattern in patterns))


def read_verdict_files(mean, sd, learned_mean, learned_sd, health) -> Verdict:
    """``verdict`` of the four matrix CSVs and the health table, by path."""
    paths = (mean, sd, learned_mean, learned_sd, health)
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run the workflow there first.")
    frames = [pd.read_csv(path, index_col="trained_on") for path in paths[:4]]
    return verdict(*frames, pd.read_csv(health))
