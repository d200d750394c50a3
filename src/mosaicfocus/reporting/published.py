"""The accuracy matrices the published study printed for this experiment, and what a printed value means."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class PublishedTable:
    """One matrix the study's authors printed for this experiment, and the page it is copied from."""

    key: str  # short name used in reports
    label: str  # what it is, in words
    page: str  # path of the page in the authors' repository
    csv: Path  # the printed values, laid out like results/accuracy.csv
    # The epoch after which each model (focus 1..9) stopped by the authors' stop rule, read from
    # the run's notebook (the last epoch it printed before "Finished Training"); None: no stop.
    stop_epochs: tuple[int, ...] | None = None


# The authors' repository prints this experiment's matrix twice, on two pages and with different numbers.
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
        stop_epochs=(194, 122, 106, 92, 89, 67, 66, 62, 69),
    ),
)


def published_matrix(table: PublishedTable = PUBLISHED_TABLES[0]) -> pd.DataFrame:
    """A published matrix as printed (truncated whole percents), laid out like results/accuracy.csv."""
    return pd.read_csv(table.csv, index_col="trained_on")


def published_interval(published: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lower and upper bound of each true value: ``[p, p + 1)``, or ``[100, 100]`` for 100.

    Both tables print whole percents TRUNCATED, not rounded: a printed ``p`` means the true
    accuracy lay in ``[p, p + 1)``, and ``p = 100`` means exactly 100 (it cannot exceed it).
    """
    low = published.astype(float)
    return low, low.where(low >= 100, low + 1)


def published_midpoint(published: pd.DataFrame) -> pd.DataFrame:
    """Best single estimate of a truncated percent: the middle of ``[p, p + 1)``; 100 stays 100.

    Differences are taken from it, not from ``p``, which would add a half-point bias to every cell.
    """
    low, high = published_interval(published)
    return (low + high) / 2
