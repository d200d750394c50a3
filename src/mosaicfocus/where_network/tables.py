"""The where network's tables: its focus every epoch (epochs.tsv), the trajectory of its what
network on the fixed datasets (trajectory.tsv), and each test mosaic's alphas (mosaics.tsv).

Written by the attention job, read by the attention report: this module is the one place
that knows their columns. Torch-free (the report reads them); the tensors it is handed
only need ``tolist``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mosaicfocus.data.design import ALL_DATASETS
from mosaicfocus.files import write_text_atomic

# A focus_summary's keys, as the columns of epochs.tsv (then the what network's active fc3 units).
EPOCH_COLUMNS = ["loss", "accuracy", "ftpt", "ffpt", "ftpf", "ffpf", "foreground_alpha", "effective_focus"]
EPOCH_COLUMNS += ["max_alpha_at_least_half", "entropy_bits", "where_fc3_units_active"]
TRAJECTORY_COLUMNS = ["attempt", "epoch", "effective_focus", "ftpt", *(f"accuracy_{d}" for d in ALL_DATASETS)]
MOSAIC_COLUMNS = ["mosaic", "foreground_position", "label", "predicted", "attended", "foreground_alpha", "max_alpha"]


def tsv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    return "\t".join(header) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows)


def write_epochs_table(path, state) -> None:
    """Every epoch's focus summary of an ``attention.AttentionState``: abandoned attempts first."""
    curves = [(a["attempt"], a["focus"], a["fc3_units_active"]) for a in state.abandoned]
    curves.append((state.attempt, state.focus, state.fc3_units_active))
    rows = (
        [attempt, epoch, *(repr(summary[c]) for c in EPOCH_COLUMNS), units]
        for attempt, summaries, fc3_units_active in curves
        for epoch, (summary, units) in enumerate(zip(summaries, fc3_units_active), 1)
    )
    write_text_atomic(path, tsv(["attempt", "epoch", *EPOCH_COLUMNS, "fc3_units_active"], rows))


def trajectory_row(attempt: int, epoch: int, summary: dict, accuracies: Sequence[float]) -> list:
    """One point of the trajectory: the epoch's focus and its what network on datasets 1..10."""
    return [attempt, epoch, summary["effective_focus"], summary["ftpt"], *accuracies]


def write_trajectory_table(path, rows: Iterable[Sequence]) -> None:
    write_text_atomic(path, tsv(TRAJECTORY_COLUMNS, rows))


def write_mosaics_table(path, first: int, mosaics: dict, scored: dict) -> None:
    """Per test mosaic (numbered from ``first``): where its foreground is, its label, the
    prediction, the tile with the largest alpha, the foreground's alpha and the largest."""
    alphas, position = scored["alphas"], mosaics["foreground_position"]
    rows = zip(
        range(first, first + len(position)),
        position.tolist(),
        mosaics["label"].tolist(),
        scored["predicted"].tolist(),
        alphas.argmax(1).tolist(),
        alphas.gather(1, position.view(-1, 1)).squeeze(1).tolist(),
        alphas.amax(1).tolist(),
    )
    write_text_atomic(path, tsv(MOSAIC_COLUMNS, rows))
