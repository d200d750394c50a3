"""Our accuracy matrix against the published ones: differences, rank correlation, the 2-sd test, the verdict.

Torch-free on purpose: this runs on any copy of ``results/`` without the training stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.reporting.matrices import learned_mask
from mosaicfocus.reporting.published import (
    PUBLISHED_TABLES,
    PublishedTable,
    published_interval,
    published_matrix,
    published_midpoint,
)

MIN_REPLICATES = 3  # below this a sample sd says too little for a 2-sd test

# The design the published tables were measured at (docs/protocol.md): what a cell of the matrix
# means. The images are CIFAR-10's (data.source cifar10, or an image folder of CIFAR-10's ten
# classes); the task is airplane, automobile and bird among the other seven; the what network
# has 3 outputs; dataset i blends the tiles with the linear weights i/9 and (9 - i)/72.
# The training settings (learning rate, momentum, batch size, epochs, restarts), the seed, the
# replicates and the mosaic count are not part of it: a comparison then measures their effect,
# as the learning-rate sweep of docs/results.md does.
STUDY_FOREGROUND = CIFAR10_CLASSES[:3]
STUDY_BACKGROUND = CIFAR10_CLASSES[3:]
STUDY_OUTPUTS = 3
STUDY_WEIGHTING = "linear"


def _names(classes) -> str:
    return ", ".join(classes)


def tables_do_not_apply(design: Mapping) -> list[str]:
    """Why the published tables do not describe a run of ``design``, one reason per key; empty
    when they do. ``design`` is ``runplan.plan.Plan.study_design``'s: the data source, the names
    of its classes (None where they could not be listed), the foreground and background
    classes, the what network's outputs and the weighting."""
    reasons = []
    source, classes = design["source"], design["classes"]
    if source == "synthetic":
        reasons.append("data.source is synthetic: coloured gratings made from the seed, not CIFAR-10's images")
    elif source == "imagefolder" and classes is None:
        reasons.append("data.source is imagefolder, and its class folders could not be listed")
    elif source == "imagefolder" and sorted(classes) != sorted(CIFAR10_CLASSES):
        reasons.append(f"data.source is imagefolder with classes {_names(classes)}: not CIFAR-10's ten")
    elif source not in ("cifar10", "imagefolder"):
        reasons.append(f"data.source is {source}, not CIFAR-10")
    if sorted(design["foreground_classes"]) != sorted(STUDY_FOREGROUND):
        reasons.append(
            f"foreground_classes are {_names(design['foreground_classes'])}; the study's are {_names(STUDY_FOREGROUND)}"
        )
    if sorted(design["background_classes"]) != sorted(STUDY_BACKGROUND):
        reasons.append(
            f"background_classes are {_names(design['background_classes'])}; "
            f"the study's are the other seven ({_names(STUDY_BACKGROUND)})"
        )
    if design["outputs"] != STUDY_OUTPUTS:
        reasons.append(f"model.outputs is {design['outputs']}; the study's network has {STUDY_OUTPUTS}")
    if design["weighting"] != STUDY_WEIGHTING:
        reasons.append(
            f"weighting is {design['weighting']}: dataset i is not the study's linear blend (i/9 on the foreground)"
        )
    return reasons


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

    Differences are from the published interval's midpoint; the consistency test uses the
    interval itself, so 52.9 is consistent with a printed 52 (``published.published_interval``).
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
