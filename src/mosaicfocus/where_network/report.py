"""The where network in the report: its focus counts per replicate, the accuracy matrix with its extra row
and column, and the fixed row nearest its own (figures in ``plots``). Torch-free, as ``report``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS

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


# Two fixed rows tie for nearest when their distances from the attention row are equal within this
# many percentage points: far below the smallest real difference (one image of one cell of 10, in
# a replicate of 20,000 mosaics: 0.01 / 10 = 0.001 points; 100 replicates: 1e-5) and far above the
# float64 rounding of a mean of ten percentages (about 1e-13).
TIE_POINTS = 1e-6


def closest_rows(extended: pd.DataFrame, tolerance: float = TIE_POINTS) -> tuple[list[int], float]:
    """The fixed focus levels whose rows are nearest the attention row (mean absolute difference
    over datasets 1..10), every level within ``tolerance`` points of the nearest (a tie), and
    the nearest distance."""
    columns = [str(d) for d in ALL_DATASETS]
    fixed = extended.loc[list(FOCUS_LEVELS), columns].astype(float)
    distance = (fixed - extended.loc[ATTENTION_ROW, columns].astype(float).to_numpy()).abs().mean(axis=1)
    nearest = float(distance.min())
    return [int(level) for level in distance.index[distance <= nearest + tolerance]], nearest


def closest_text(levels: Sequence[int]) -> str:
    """``closest: row 6``, or ``closest: rows 1, 2, 3 tied``."""
    if len(levels) == 1:
        return f"closest: row {levels[0]}"
    return f"closest: rows {', '.join(str(level) for level in levels)} tied"


def closest_row(extended: pd.DataFrame) -> tuple[int, float]:
    """The first of ``closest_rows`` and the distance (a tie is not shown: use ``closest_rows``)."""
    levels, distance = closest_rows(extended)
    return levels[0], distance
