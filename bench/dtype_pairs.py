"""float64 against float32, model by model: the same models trained in both number types.

    .venv/bin/python bench/dtype_pairs.py FLOAT32_RESULTS FLOAT64_RESULTS

Two results folders of runs that differ only in ``train.dtype`` (same seed, so each
model of a replicate has the same mosaics, initial weights and shuffle orders in both),
the second one possibly with only some models trained (e.g. the float64 point of a
sweep, with its evaluations of a few levels as targets). For every model found in both
(replicate, trained-on level): the epoch it stopped at under ``train.stop_loss`` in each
and its ten accuracies in each. The paired difference float64 - float32 is then set
beside the spread the float32 run shows between its replicates in the same cells: the
mean |difference| between two replicates, over every pair of them. A number type that
only re-rounds would leave the pairs closer than two replicates are; one that changed
what training does would move them further apart, or in one direction.

Torch-free: it reads the JSON records. Figures: docs/results.md, "The authors' protocol".
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS  # noqa: E402
from mosaicfocus.runplan.result_files import EVALUATION, MODEL_RECORD, in_results  # noqa: E402
from mosaicfocus.runplan.runs import REPLICATE_GLOB, replicate_prefix  # noqa: E402


def replicate_folders(results: Path) -> dict[int, str]:
    """Replicate number -> its ``run`` prefix inside the results folder (replicate 1: '')."""
    replicates = [1, *(int(folder.name) for folder in results.glob(REPLICATE_GLOB))]
    return {replicate: replicate_prefix(replicate) for replicate in sorted(replicates)}


def read_run(results: Path) -> dict[tuple[int, int], dict]:
    """(replicate, trained-on level) -> {"dtype", "stopped_at", "accuracy": {tested-on: %}} of every
    model whose ten evaluations are all there."""
    models = {}
    for replicate, run in replicate_folders(results).items():
        for level in FOCUS_LEVELS:
            record_path = in_results(results, MODEL_RECORD, run=run, focus=level)
            scores = [in_results(results, EVALUATION, run=run, focus=level, dataset=j) for j in ALL_DATASETS]
            if not record_path.is_file() or not all(path.is_file() for path in scores):
                continue
            meta = json.loads(record_path.read_text())["meta"]
            models[(replicate, level)] = {
                "dtype": meta["train"].get("dtype", "float32"),
                "stopped_at": meta["health"].get("stopped_at_epoch"),
                "accuracy": {j: json.loads(path.read_text())["accuracy"] for j, path in zip(ALL_DATASETS, scores)},
            }
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("float32", type=Path, help="results folder of the float32 run (all its replicates)")
    parser.add_argument("float64", type=Path, help="results folder of the float64 run (some models suffice)")
    args = parser.parse_args()
    a, b = read_run(args.float32), read_run(args.float64)
    pairs = sorted(set(a) & set(b))
    if not pairs:
        raise SystemExit(f"no model is in both {args.float32} and {args.float64} with its ten evaluations")
    for key, record in [(k, a[k]) for k in pairs] + [(k, b[k]) for k in pairs]:
        if record["dtype"] not in ("float32", "float64"):
            raise SystemExit(f"replicate {key[0]}, level {key[1]}: train.dtype {record['dtype']}")
    print(
        f"{len(pairs)} models in both: {args.float32} ({a[pairs[0]]['dtype']}), {args.float64} ({b[pairs[0]]['dtype']})"
    )
    print("replicate level  stopped at (a, b)  mean |b - a| over the 10 datasets  b - a per dataset 1..10")
    paired = []
    for replicate, level in pairs:
        differences = [b[replicate, level]["accuracy"][j] - a[replicate, level]["accuracy"][j] for j in ALL_DATASETS]
        paired += differences
        stops = f"{a[replicate, level]['stopped_at']}, {b[replicate, level]['stopped_at']}"
        listed = " ".join(f"{d:+.2f}" for d in differences)
        print(f"{replicate:>9} {level:>5}  {stops:>17}  {statistics.fmean(map(abs, differences)):>33.2f}  {listed}")
    # The float32 run's own spread in the same cells: |x_r - x_s| over its pairs of replicates.
    between = []
    for level in sorted({level for _, level in pairs}):
        replicates = sorted(r for r, lvl in a if lvl == level)
        for r, s in itertools.combinations(replicates, 2):
            between += [abs(a[r, level]["accuracy"][j] - a[s, level]["accuracy"][j]) for j in ALL_DATASETS]
    mean, signed, largest = statistics.fmean(map(abs, paired)), statistics.fmean(paired), max(map(abs, paired))
    types = f"{b[pairs[0]]['dtype']} - {a[pairs[0]]['dtype']}"
    print(f"\nmean |{types}| of the same model: {mean:.2f} points over {len(paired)} cells")
    print(f"  (signed mean {signed:+.2f}; largest {largest:.2f})")
    if between:
        spread = statistics.fmean(between)
        print(f"mean |replicate r - replicate s| of the first run, same levels: {spread:.2f} points")
        print(f"  (over {len(between)} pairs of cells)")
    else:
        print("the first run has one replicate of these levels: no spread to compare with")


if __name__ == "__main__":
    main()
