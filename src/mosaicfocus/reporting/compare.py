"""Difference of two result folders' accuracy matrices, or of one folder and the published study.

    python -m mosaicfocus.reporting.compare results_a results_b [--matrix accuracy_heldout.csv]
    python -m mosaicfocus.reporting.compare --study results [--matrix accuracy_heldout.csv]

Two folders: prints B - A in percentage points (rows trained on, columns tested
on), the largest changes, and the mean absolute difference, like ``dvc metrics
diff`` does for metrics, then whether the two were made by the same code, job by
job, from the code their evaluation records name (``provenance.code_lineage``).
Where both folders hold ``training_health.csv`` it goes on with what the change did
(``mosaicfocus.reporting.effect``): the cells that moved by more than 2 sd of the
difference of the means (two replicates or more on each side), each folder's
distance from the published tables, row by row, and the epochs each model stopped
at under ``train.stop_loss``.
``--study``: compares the folder's mean matrix with the two published ones (see
``mosaicfocus.reporting.study``), using the ``_sd`` sibling of the matrix when it
holds values and the number of replicate matrices
(``eval{split}/accuracy.csv``, ``replicates/*/eval{split}/accuracy.csv``) as n; where
the folder's evaluations were made at another design than the study's (other data, classes,
outputs or weighting: ``study.tables_do_not_apply``), it says why the tables do not apply
instead, as rule study does. Exit status 0; 2 when a matrix is missing or malformed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.data.imagefolder import listed_classes
from mosaicfocus.provenance import code_versions, version_label
from mosaicfocus.reporting.effect import effect, format_effect, read_replicate_study
from mosaicfocus.reporting.study import Verdict, compare_with_tables, tables_do_not_apply, verdict
from mosaicfocus.reporting.study_text import format_against_tables, format_tables_do_not_apply, format_verdict
from mosaicfocus.runplan.result_files import (
    ACCURACY_CSV,
    ACCURACY_SD_CSV,
    EVALUATION,
    HEALTH_CSV,
    LEARNED_CSV,
    LEARNED_SD_CSV,
    REPLICATE_MATRIX,
    RUN_JSON,
    in_results,
)
from mosaicfocus.runplan.runs import REPLICATE_GLOB


def read_matrix(folder: str | Path, name: str = "accuracy.csv") -> pd.DataFrame:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such matrix; run the workflow there first (or pick --matrix).")
    return pd.read_csv(path, index_col="trained_on")


def read_verdict(folder: str | Path) -> Verdict:
    """``study.verdict`` of a results folder (accuracy*.csv and training_health.csv)."""
    patterns = (ACCURACY_CSV, ACCURACY_SD_CSV, LEARNED_CSV, LEARNED_SD_CSV, HEALTH_CSV)
    return read_verdict_files(*(in_results(folder, pattern) for pattern in patterns))


def read_verdict_files(mean, sd, learned_mean, learned_sd, health) -> Verdict:
    """``study.verdict`` of the four matrix CSVs and the health table, by path (rule study's inputs)."""
    paths = (mean, sd, learned_mean, learned_sd, health)
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run the workflow there first.")
    frames = [pd.read_csv(path, index_col="trained_on") for path in paths[:4]]
    return verdict(*frames, pd.read_csv(health))


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


def run_code(folder: str | Path) -> dict[str, dict[str, list]]:
    """The code behind a results folder's matrices, job by job, from its evaluation records
    (every replicate, both splits): ``provenance.code_versions``; without evaluation records,
    its run.json's (the same aggregation, of the models' records); empty for records made
    before they named their code."""
    paths = [
        path
        for run in ("", REPLICATE_GLOB)
        for split in ("", "_heldout")
        for path in Path(folder).glob(str(in_results("", EVALUATION, run=run, split=split, focus="*", dataset="*")))
    ]
    found = code_versions(json.loads(path.read_text()).get("code") for path in paths)
    described = in_results(folder, RUN_JSON)
    if not found and described.is_file():  # a copy of a run's tables without its evaluations (docs/)
        return json.loads(described.read_text()).get("code") or {}
    return found


def code_report(folder_a: str | Path, folder_b: str | Path) -> str:
    """Whether two results folders were made by the same code, and which jobs' code differs."""
    code = {folder_a: run_code(folder_a), folder_b: run_code(folder_b)}
    unrecorded = [str(folder) for folder, jobs in code.items() if not jobs]
    if unrecorded:
        return f"code: not recorded in {' and '.join(unrecorded)} (made before records named their code)"

    def short(entry):
        return version_label(entry) if entry else "not recorded"

    a, b = code[folder_a], code[folder_b]
    differ = [
        job for job in sorted(set(a) | set(b)) if (a.get(job) or {}).get("digests") != (b.get(job) or {}).get("digests")
    ]
    mixed = [
        f"{folder} {job}"
        for folder, jobs in code.items()
        for job, entry in sorted(jobs.items())
        if len(entry["digests"]) > 1
    ]
    lines = []
    if differ:
        lines.append(f"code: made by different code in {', '.join(differ)}")
        lines += [f"  {job}: {folder_a} {short(a.get(job))}; {folder_b} {short(b.get(job))}" for job in differ]
    else:
        lines.append(f"code: the same in every job ({', '.join(f'{job} {short(e)}' for job, e in sorted(a.items()))})")
    if mixed:
        lines.append(f"code: one folder mixes versions of a job's code: {', '.join(mixed)}")
    return "\n".join(lines)


def replicate_count(folder: str | Path, name: str = "accuracy.csv") -> int:
    """Replicate matrices behind ``name`` (``accuracy{split}.csv``): replicate 1's and every
    ``replicates/<r>/``'s (paths.REPLICATE_MATRIX, runs.REPLICATE_GLOB)."""
    stem = Path(name).stem
    if not stem.startswith("accuracy"):
        raise ValueError(f"{name}: cannot tell its replicate matrices; expected accuracy{{split}}.csv")
    split = stem[len("accuracy") :]
    first = in_results(folder, REPLICATE_MATRIX, split=split)
    others = Path(folder).glob(str(in_results("", REPLICATE_MATRIX, run=REPLICATE_GLOB, split=split)))
    return int(first.is_file()) + len(list(others))


def study_report(folder: str | Path, name: str = "accuracy.csv") -> str:
    """Report of ``folder``'s matrix against each published table (mean, sd when it has values, n)."""
    mean = read_matrix(folder, name)
    sd_path = Path(folder) / f"{Path(name).stem}_sd.csv"
    sd = pd.read_csv(sd_path, index_col="trained_on") if sd_path.is_file() else None
    if sd is not None and sd.isna().all().all():
        sd = None  # one replicate: the sd file is written, but empty
    return format_against_tables(compare_with_tables(mean, sd, replicate_count(folder, name)), label=str(folder))


def read_design(folder: str | Path) -> dict | None:
    """The design a results folder was made at, as ``Plan.study_design`` gives it to rule study,
    from what produced its first evaluation (``eval/train1_test1.json``); None without one."""
    path = in_results(folder, EVALUATION, focus=1, dataset=1)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    source = record["source"]["source"]
    classes = {"cifar10": list(CIFAR10_CLASSES)}
    if source == "imagefolder":
        classes["imagefolder"] = listed_classes(record["source"]["root"])
    return {
        "source": source,
        "classes": classes.get(source),
        "foreground_classes": record["mosaics"]["foreground_classes"],
        "background_classes": record["mosaics"]["background_classes"],
        "outputs": record["train"]["outputs"],
        "weighting": record["weighting"]["weighting"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mosaicfocus.reporting.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("a", nargs="?", help="first results folder (e.g. results)")
    parser.add_argument("b", nargs="?", help="second results folder")
    parser.add_argument("--study", metavar="RESULTS_DIR", help="compare this one folder with the published matrices")
    parser.add_argument("--matrix", default="accuracy.csv", help="matrix file inside the folder(s)")
    args = parser.parse_args(argv)
    if args.study is not None and args.a is not None:
        parser.error("--study takes exactly one results folder and no positional folders")
    if args.study is None and args.b is None:
        parser.error("give two results folders, or --study RESULTS_DIR")
    try:
        if args.study is not None:
            design = read_design(args.study)
            reasons = [] if design is None else tables_do_not_apply(design)
            if reasons:
                print(format_tables_do_not_apply(reasons))  # as results/study_comparison.txt
            elif args.matrix == "accuracy.csv" and (Path(args.study) / "training_health.csv").is_file():
                print(format_verdict(read_verdict(args.study)))  # what results/study_comparison.txt says
            else:
                print(study_report(args.study, args.matrix))
            return 0
        diff = matrix_difference(read_matrix(args.a, args.matrix), read_matrix(args.b, args.matrix))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(diff, args.a, args.b))
    print(code_report(args.a, args.b))
    if args.matrix == "accuracy.csv" and all(in_results(f, HEALTH_CSV).is_file() for f in (args.a, args.b)):
        print()
        print(effect_report(args.a, args.b))
    return 0


def effect_report(folder_a: str | Path, folder_b: str | Path) -> str:
    """``effect.format_effect`` of two replicate studies; the published tables only where both runs
    were made at the study's design (a folder without evaluation records, such as a copy in docs/,
    is taken at the design of the other)."""
    designs = [design for design in map(read_design, (folder_a, folder_b)) if design is not None]
    reasons = list(dict.fromkeys(reason for design in designs for reason in tables_do_not_apply(design)))
    found = effect(read_replicate_study(folder_a), read_replicate_study(folder_b), reasons)
    return format_effect(found)


if __name__ == "__main__":
    sys.exit(main())
