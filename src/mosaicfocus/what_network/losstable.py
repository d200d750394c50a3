"""A model's loss table: every epoch's mean training loss and fc3 units active, of every
attempt (abandoned ones first). Written by the training jobs, read by the report; this
module is the one place that knows its columns. Torch-free: the report reads it."""

from __future__ import annotations

from mosaicfocus.files import write_text_atomic

LOSS_COLUMNS = ["attempt", "epoch", "loss", "fc3_units_active"]


def write_loss_table(path, state) -> None:
    """The table of a ``training.TrainingState``: its abandoned attempts, then the kept one."""
    curves = [(a["attempt"], a["losses"], a["fc3_units_active"]) for a in state.abandoned]
    curves.append((state.attempt, state.losses, state.fc3_units_active))
    rows = (
        f"{attempt}\t{epoch}\t{loss!r}\t{units}\n"
        for attempt, losses, fc3_units_active in curves
        for epoch, (loss, units) in enumerate(zip(losses, fc3_units_active), 1)
    )
    write_text_atomic(path, "\t".join(LOSS_COLUMNS) + "\n" + "".join(rows))


def read_loss_table(path):
    import pandas as pd

    table = pd.read_csv(path, sep="\t")
    if list(table.columns) != LOSS_COLUMNS:
        raise ValueError(f"{path}: columns {list(table.columns)}, expected {LOSS_COLUMNS}")
    return table
