"""Difference of two result folders' accuracy matrices, printed as a matrix.

    python -m mosaicfocus.compare results_a results_b [--matrix accuracy_heldout.csv]

Prints B - A in percentage points (rows trained on, columns tested on), the
largest changes, and the mean absolute difference, like ``dvc metrics diff``
does for metrics. Exit status 0; 2 when a folder lacks the matrix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def read_matrix(folder: str | Path, name: str = "accuracy.csv") -> pd.DataFrame:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such matrix; run the workflow there first (or pick --matrix).")
    return pd.read_csv(path, index_col="trained_on")


def matrix_difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if a.shape != b.shape or list(a.index) != list(b.index) or list(a.columns) != list(b.columns):
        raise ValueError(f"matrices differ in shape or labels: {a.shape} vs {b.shape}")
    return b - a


def format_report(diff: pd.DataFrame, label_a: str, label_b: str, top: int = 5) -> str:
    lines = [f"accuracy difference, percentage points ({label_b} - {label_a}); rows trained on, columns tested on"]
    lines.append(diff.to_string(float_format=lambda v: f"{v:+.2f}"))
    stacked = diff.stack()
    largest = stacked.reindex(stacked.abs().sort_values(ascending=False).index)[:top]
    lines.append("largest changes: " + ", ".join(f"({i},{j}) {v:+.2f}" for (i, j), v in largest.items()))
    lines.append(f"mean |difference|: {stacked.abs().mean():.3f} points; max: {stacked.abs().max():.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mosaicfocus.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="first results folder (e.g. results)")
    parser.add_argument("b", help="second results folder")
    parser.add_argument("--matrix", default="accuracy.csv", help="matrix file inside both folders")
    args = parser.parse_args(argv)
    try:
        diff = matrix_difference(read_matrix(args.a, args.matrix), read_matrix(args.b, args.matrix))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(diff, args.a, args.b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
