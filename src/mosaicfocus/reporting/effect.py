"""What a change of protocol does to the matrix: two replicate studies, B against A.

Each study is a results folder (``accuracy.csv``, ``accuracy_sd.csv``,
``training_health.csv``): its mean over n replicates and their sd. A cell
**moved** when its difference of means is more than 2 sd of that difference,
``|mean_B - mean_A| > 2 sqrt(sd_A^2 / n_A + sd_B^2 / n_B)``, a test that needs at
least two replicates on each side (a cell whose sd is 0 on both sides moves with
any difference). Beside it, each study's mean |difference| from every published
table (overall and per row), so a change can be read as "closer to the study or
not", and the epoch each model stopped at when the run had ``train.stop_loss``.

Torch-free: it reads CSVs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mosaicfocus.reporting.published import PUBLISHED_TABLES
from mosaicfocus.reporting.study import StudyComparison, compare_with_tables
from mosaicfocus.runplan.result_files import ACCURACY_CSV, ACCURACY_SD_CSV, HEALTH_CSV, in_results
from mosaicfocus.what_network.health import STOP_COLUMNS

MIN_REPLICATES = 2  # an sd needs two
(STOP_COLUMN,) = STOP_COLUMNS  # in training_health.csv when a run had train.stop_loss


@dataclass(frozen=True)
class ReplicateStudy:
    """A results folder's mean and sd over ``n`` replicates, and its training health table."""

    label: str
    mean: pd.DataFrame
    sd: pd.DataFrame
    n: int
    health: pd.DataFrame


def read_replicate_study(folder: str | Path, label: str | None = None) -> ReplicateStudy:
    """``accuracy.csv``, ``accuracy_sd.csv`` (NaN where missing) and ``training_health.csv`` of ``folder``;
    n is the number of replicates the health table names (the same in results/ and in a copy such as
    docs/replicate-study)."""
    folder = Path(folder)
    mean_path, sd_path, health_path = (
        in_results(folder, pattern) for pattern in (ACCURACY_CSV, ACCURACY_SD_CSV, HEALTH_CSV)
    )
    for path in (mean_path, health_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; a replicate study's results folder holds it (run the workflow)")
    mean = pd.read_csv(mean_path, index_col="trained_on").astype(float)
    # One replicate has no sd (its file is empty or, in a copy of results/, left out).
    sd = pd.read_csv(sd_path, index_col="trained_on").astype(float) if sd_path.is_file() else mean * np.nan
    health = pd.read_csv(health_path)
    if list(mean.index) != list(sd.index) or list(mean.columns) != list(sd.columns):
        raise ValueError(f"{folder}: accuracy.csv and accuracy_sd.csv have different rows or columns")
    return ReplicateStudy(label or str(folder), mean, sd, int(health["replicate"].nunique()), health)


@dataclass(frozen=True)
class Effect:
    a: ReplicateStudy
    b: ReplicateStudy
    difference: pd.DataFrame  # mean_B - mean_A, percentage points
    sd_of_difference: pd.DataFrame  # sqrt(sd_A^2 / n_A + sd_B^2 / n_B); NaN below two replicates
    moved: pd.DataFrame  # True where |difference| > 2 sd_of_difference
    tables_a: tuple[StudyComparison, ...] | None  # each study against every published table
    tables_b: tuple[StudyComparison, ...] | None
    tables_do_not_apply: list[str]  # why the published tables were left out; empty when they apply


def effect(a: ReplicateStudy, b: ReplicateStudy, tables_do_not_apply: list[str] = ()) -> Effect:
    """B - A cell by cell, with the 2-sd test, and both studies against the published tables unless
    ``tables_do_not_apply`` gives reasons (``study.tables_do_not_apply`` of either run's design)."""
    if list(a.mean.index) != list(b.mean.index) or list(a.mean.columns) != list(b.mean.columns):
        raise ValueError(f"{a.label} and {b.label} have different rows or columns")
    difference = b.mean - a.mean
    if min(a.n, b.n) >= MIN_REPLICATES:
        sd_of_difference = np.sqrt(a.sd**2 / a.n + b.sd**2 / b.n)
    else:
        sd_of_difference = pd.DataFrame(np.nan, index=difference.index, columns=difference.columns)
    moved = (difference.abs() > 2 * sd_of_difference) & sd_of_difference.notna()
    reasons = list(tables_do_not_apply)
    tables_a = None if reasons else compare_with_tables(a.mean, a.sd, a.n)
    tables_b = None if reasons else compare_with_tables(b.mean, b.sd, b.n)
    return Effect(a, b, difference, sd_of_difference, moved, tables_a, tables_b, reasons)


def stop_epochs(health: pd.DataFrame) -> pd.DataFrame | None:
    """Epoch each model stopped at (rows trained on, columns replicates; NaN: trained to the end);
    None for a run without ``train.stop_loss``."""
    if STOP_COLUMN not in health.columns:
        return None
    table = health.pivot(index="trained_on", columns="replicate", values=STOP_COLUMN)
    table.columns = [f"r{replicate}" for replicate in table.columns]
    return table


def _points(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _stop_spread(epochs: pd.DataFrame) -> str:
    """Mean ± sd of each row's stop epochs, saying how many stopped where not all did."""
    parts = []
    for row, values in epochs.iterrows():
        stopped = values.dropna()
        if stopped.empty:
            parts.append(f"{row}: none stopped")
            continue
        text = f"{row}: {stopped.mean():.1f} ± {_points(stopped.std(ddof=1))}"
        parts.append(text + (f" ({len(stopped)} of {len(values)})" if len(stopped) < len(values) else ""))
    return ", ".join(parts)


def format_effect(found: Effect) -> str:
    a, b = found.a, found.b
    stacked = found.difference.stack()
    lines = [
        f"B = {b.label} (n = {b.n}) against A = {a.label} (n = {a.n}): mean_B - mean_A, percentage points",
        f"mean |difference| {stacked.abs().mean():.2f}, signed mean {stacked.mean():+.2f}, "
        f"largest {stacked.abs().max():.2f}",
        "per row (trained on): mean |difference| "
        + ", ".join(f"{row}: {found.difference.loc[row].abs().mean():.2f}" for row in found.difference.index),
    ]
    if found.sd_of_difference.isna().all().all():
        lines.append(f"cells that moved: not tested (an sd needs {MIN_REPLICATES} replicates on each side)")
    else:
        moved = [
            f"({row},{col}) {found.difference.loc[row, col]:+.2f} ± {2 * found.sd_of_difference.loc[row, col]:.2f}"
            for row in found.moved.index
            for col in found.moved.columns
            if found.moved.loc[row, col]
        ]
        lines.append(
            f"cells that moved by more than 2 sd of the difference of means: {len(moved)} of {found.moved.size}"
            + (": " + ", ".join(moved) if moved else "")
        )
    lines.append("")
    if found.tables_do_not_apply:
        lines.append("the published tables do not apply: " + "; ".join(found.tables_do_not_apply))
    else:
        lines.append("against the published tables: mean |difference| from the interval midpoint, A -> B")
        for table, in_a, in_b in zip(PUBLISHED_TABLES, found.tables_a, found.tables_b):
            rows = ", ".join(
                f"{row}: {_points(in_a.mad_per_row[row])} -> {_points(in_b.mad_per_row[row])}"
                for row in in_a.mad_per_row.index
            )
            lines.append(
                f"  {table.key}: {_points(in_a.mad)} -> {_points(in_b.mad)} (change {in_b.mad - in_a.mad:+.2f})"
            )
            lines.append(f"    per row {rows}")
    for study in (a, b):
        epochs = stop_epochs(study.health)
        if epochs is None:
            lines.append(f"\n{study.label}: no stop rule (every model trained all its epochs)")
            continue
        lines.append(f"\n{study.label}: epoch each model stopped at (train.stop_loss; '-' = trained to the end)")
        lines.append(epochs.to_string(na_rep="-", float_format=lambda v: f"{v:.0f}"))
        lines.append("mean ± sd per row, of the models that stopped: " + _stop_spread(epochs))
    if not found.tables_do_not_apply:
        for table in PUBLISHED_TABLES:
            if table.stop_epochs is not None:
                listed = ", ".join(f"{row}: {epoch}" for row, epoch in enumerate(table.stop_epochs, start=1))
                lines.append(f"{table.key}'s run stopped after epochs {listed}")
    return "\n".join(lines)
