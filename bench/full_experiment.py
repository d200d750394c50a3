"""Run the full default experiment on the local CIFAR-10 JPEG copy and report its cost.

    .venv/bin/python bench/full_experiment.py --cifar data/cifar10
    .venv/bin/python bench/full_experiment.py --cifar data/cifar10 --epochs 2   # a rehearsal

`--cifar` is the extracted folder holding train/<class>/ or the archive (extracted first, untimed,
to a temporary folder that is removed when the run ends).

It runs `snakemake --cores 2` (change with --cores) in a fresh scratch folder
with `data: {source: imagefolder, root: <cifar>}` and otherwise config.yaml's
defaults, then prints the wall time and, from results/benchmarks/*.tsv, the
time, peak RSS and CPU time of every job. The scratch folder is kept (its
path is printed) so results/accuracy.csv can be read afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cifar_copy import HELP, cifar_folder

REPO = Path(__file__).resolve().parents[1]
MEMORY_LIMIT_MB = 3000  # the memory target: no job above 3 GB


def job_table(benchmarks: Path) -> list[dict]:
    rows = []
    for tsv in sorted(benchmarks.glob("*.tsv")):
        with tsv.open() as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                rows.append(
                    {
                        "job": tsv.stem,
                        "seconds": float(record["s"]),
                        "max_rss_mb": float(record["max_rss"])
                        if record["max_rss"] not in ("", "-", "NA")
                        else float("nan"),
                        "cpu_seconds": float(record["cpu_time"])
                        if record.get("cpu_time") not in (None, "", "-", "NA")
                        else float("nan"),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", type=Path, required=True, help=HELP)
    parser.add_argument("--workdir", type=Path, help="scratch folder for results/ (default: a new one under /tmp)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="override train.epochs (default: config.yaml's 200)")
    args = parser.parse_args()
    with cifar_folder(args.cifar) as cifar:
        run(args, cifar)


def run(args, cifar: Path) -> None:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mosaicfocus-full-"))
    config = [f"data={{source: imagefolder, root: {cifar.resolve()}}}"]
    if args.epochs:
        config.append(f"train={{epochs: {args.epochs}}}")
    command = [
        str(REPO / ".venv" / "bin" / "snakemake"),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(REPO / "config.yaml"),
        "--cores", str(args.cores),
        "--config", *config,
    ]  # fmt: skip
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    print("running:", " ".join(command), flush=True)
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (workdir / "snakemake_output.log").write_text(finished.stdout + finished.stderr)
    if finished.returncode != 0:
        print(finished.stderr[-5000:], file=sys.stderr)
        raise SystemExit(f"snakemake failed (exit {finished.returncode}); log in {workdir / 'snakemake_output.log'}")
    rows = job_table(workdir / "results" / "benchmarks")
    print(f"\n{'job':<16}{'seconds':>10}{'peak RSS MB':>14}{'CPU s':>10}")
    for row in rows:
        print(f"{row['job']:<16}{row['seconds']:>10.1f}{row['max_rss_mb']:>14.0f}{row['cpu_seconds']:>10.1f}")
    peak = max(rows, key=lambda row: row["max_rss_mb"])
    load = os.getloadavg()
    print(f"\nwall time of `snakemake --cores {args.cores}`: {wall:.0f} s ({wall / 60:.1f} min; target <= 15 min)")
    print(f"largest peak RSS: {peak['max_rss_mb']:.0f} MB ({peak['job']}; limit {MEMORY_LIMIT_MB} MB)")
    print(f"sum of job CPU time: {sum(row['cpu_seconds'] for row in rows):.0f} s")
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"results in {workdir / 'results'}")


if __name__ == "__main__":
    main()
