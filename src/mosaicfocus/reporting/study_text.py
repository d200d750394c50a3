"""The comparison with the published study in words: results/study_comparison.txt and ``compare --study``."""

from __future__ import annotations

import pandas as pd

from mosaicfocus.reporting.published import PUBLISHED_TABLES, PublishedTable, published_matrix
from mosaicfocus.reporting.study import (
    BETWEEN,
    BEYOND,
    BOTH,
    MIN_REPLICATES,
    STUDY_BACKGROUND,
    STUDY_FOREGROUND,
    STUDY_OUTPUTS,
    StudyComparison,
    Verdict,
    classify_reproduction,
    compare_published_tables,
)


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


def format_verdict(verdict: Verdict) -> str:
    """The whole comparison, as results/study_comparison.txt holds it: both tables, then both means."""
    n_text = ", ".join(f"{level}: {int(k)}/{verdict.n}" for level, k in verdict.n_learned.items())
    lines = [
        f"Against the published study's {len(PUBLISHED_TABLES)} tables of this experiment "
        f"({verdict.n} replicate(s)); models that learned, per row: {n_text}.",
        f"The 2-sd test uses rows with >= {MIN_REPLICATES} learned models only.",
        tables_legend(),
        "",
        "== The two published tables against each other ==",
        format_tables_difference(),
        "",
        "== Mean over the models that learned ==",
        format_against_tables(verdict.learned, label="ours (learned)"),
        "",
        "== Mean over all runs (dead and plateau models included) ==",
    ]
    for c in verdict.all_runs:
        lines += [
            f"against published {c.table.key}: mean |difference|: {c.mad:.3f} points; "
            f"Spearman rank correlation: {c.spearman:.4f}",
            "  " + _per_row_text(c.mad_per_row),
        ]
    return "\n".join(lines)


def format_tables_do_not_apply(reasons: list[str]) -> str:
    """results/study_comparison.txt of a run the published tables do not describe
    (``study.tables_do_not_apply``'s reasons): why, and no difference, correlation or verdict."""
    return "\n".join(
        [
            f"The published study's {len(PUBLISHED_TABLES)} tables of this experiment do not apply to this run, "
            "so no difference, correlation or verdict is given:",
            *(f"  - {reason}" for reason in reasons),
            f"They were measured on CIFAR-10's images, {', '.join(STUDY_FOREGROUND)} among the other "
            f"{len(STUDY_BACKGROUND)} classes, with a what network of {STUDY_OUTPUTS} outputs and the linear focus "
            "weights (docs/protocol.md); against another design a difference would measure the change of design, "
            "not a reproduction.",
            tables_legend(),
        ]
    )
