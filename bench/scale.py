"""What a run costs against its size: the workflow at several mosaic counts, every job's
time and memory beside the memory it declared.

    .venv/bin/python bench/scale.py --cifar data/cifar10                      # 20k, 60k, 200k mosaics
    .venv/bin/python bench/scale.py --cifar data/cifar10 --counts 2000 6000   # a rehearsal

`--cifar` is the extracted folder holding train/<class>/ or the archive (extracted once, to a
temporary folder, for all counts).

For every count it runs `snakemake --cores 2` in its own scratch folder with config.yaml's
defaults plus `data: {source: imagefolder, root: <cifar>}`, `mosaics.count` and
`train.epochs` (1 unless --epochs), then reads every job's log (peak RSS, the kernel's
high-water mark, and the mem_mb it declared) and benchmark file (wall time and
Snakemake's sampled max_rss). It prints one table of jobs per count, then the growth of
each stage with the count, and writes all figures to <workdir>/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cifar_copy import HELP, cifar_folder  # noqa: E402

from mosaicfocus.runplan.joblog import job_memory  # noqa: E402

STAGES = ("source_images", "mosaics", "datasets", "train", "evaluate", "report")
BARE_TORCH_MB = 540  # measured: a Python process that has only imported torch


def stage_of(job: str) -> str:
    name = job.rsplit("/", 1)[-1]
    return next((stage for stage in STAGES if name == stage or name.startswith(stage + "_")), name)


def disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def run_count(count: int, args, cifar: Path, workdir: Path) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(args.cores),
        "--configfile",
        str(REPO / "config.yaml"),
        "--config",
        f"data={{source: imagefolder, root: {cifar.resolve()}}}",
        f"mosaics={{count: {count}}}",
        f"train={{epochs: {args.epochs}}}",
    ]
    started = time.perf_counter()
    with open(workdir / "snakemake_output.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the run at {count} mosaics failed; see {workdir / 'snakemake_output.log'}")
    jobs = job_memory(workdir / "results")
    for job in jobs:
        job["stage"] = stage_of(job["job"])
    return {
        "count": count,
        "wall_s": wall,
        "data_disk_mb": disk_mb(workdir / "results" / "data"),
        "results_disk_mb": disk_mb(workdir / "results"),
        "jobs": jobs,
    }


def stage_summary(run: dict) -> dict[str, dict]:
    """Per stage: jobs, summed wall seconds, the largest peak (either measure) and declared mem_mb."""
    summary: dict[str, dict] = {}
    for job in run["jobs"]:
        stage = summary.setdefault(job["stage"], {"jobs": 0, "wall_s": 0.0, "peak_mb": 0, "declared_mb": 0})
        stage["jobs"] += 1
        stage["wall_s"] += job["wall_s"] or 0.0
        stage["peak_mb"] = max(stage["peak_mb"], job["peak_mb"], job["max_rss_mb"] or 0)
        stage["declared_mb"] = max(stage["declared_mb"], job["declared_mb"])
    return summary


def print_jobs(run: dict) -> None:
    print(
        f"\n## {run['count']:,} mosaics: {run['wall_s']:.0f} s end to end, data {run['data_disk_mb']:,.0f} MB on disk"
    )
    print(
        "| job | wall s | declared runtime min | peak RSS MB (log) | max_rss MB (benchmark) | declared mem_mb "
        "| memory headroom |"
    )
    print("|---|---|---|---|---|---|---|")
    for job in run["jobs"]:
        worst = max(job["peak_mb"], job["max_rss_mb"] or 0)
        wall = f"{job['wall_s']:.1f}" if job["wall_s"] is not None else "-"
        sampled = f"{job['max_rss_mb']:,}" if job["max_rss_mb"] is not None else "-"
        print(
            f"| {job['job']} | {wall} | {job['declared_min']} | {job['peak_mb']:,} | {sampled} | "
            f"{job['declared_mb']:,} | {1 - worst / job['declared_mb']:.0%} |"
        )


def print_growth(runs: list[dict]) -> None:
    counts = [run["count"] for run in runs]
    summaries = [stage_summary(run) for run in runs]
    print("\n## Growth with mosaics.count (wall s summed over a stage's jobs; peak = largest job, MB)")
    print("| stage | " + " | ".join(f"{c:,}: wall s / peak / declared" for c in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for stage in STAGES:
        cells = []
        for summary in summaries:
            s = summary.get(stage)
            cells.append(f"{s['wall_s']:.1f} / {s['peak_mb']:,} / {s['declared_mb']:,}" if s else "-")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    first, last = summaries[0], summaries[-1]
    step = (counts[-1] - counts[-2]) / 10_000 if len(counts) > 1 else float("nan")
    print(f"\n## Growth from {counts[0]:,} to {counts[-1]:,} mosaics ({counts[-1] / counts[0]:.0f}x)")
    print(
        "| stage | wall time | peak memory | peak memory above a bare torch process "
        f"| per 10,000 more mosaics ({counts[-2]:,} to {counts[-1]:,}): wall s, largest job MB |"
    )
    print("|---|---|---|---|---|")
    for stage in STAGES[:-1]:
        a, b, before = first[stage], last[stage], summaries[-2][stage]
        print(
            f"| {stage} | {b['wall_s'] / a['wall_s']:.1f}x | {b['peak_mb'] / a['peak_mb']:.1f}x | "
            f"{(b['peak_mb'] - BARE_TORCH_MB) / max(a['peak_mb'] - BARE_TORCH_MB, 1):.1f}x | "
            f"{(b['wall_s'] - before['wall_s']) / step:+.1f} s, {(b['peak_mb'] - before['peak_mb']) / step:+.0f} MB |"
        )
    over = [
        (run["count"], job["job"])
        for run in runs
        for job in run["jobs"]
        if max(job["peak_mb"], job["max_rss_mb"] or 0) > job["declared_mb"]
        or (job["wall_s"] or 0) > 60 * job["declared_min"]
    ]
    print(f"\njobs above their declared memory or runtime: {over or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", type=Path, required=True, help=HELP)
    parser.add_argument("--counts", type=int, nargs="+", default=[20_000, 60_000, 200_000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep each count's results (they take disk: 6 GB at 200k)")
    args = parser.parse_args()
    with cifar_folder(args.cifar) as cifar:
        measure(args, cifar)


def measure(args, cifar: Path) -> None:
    base = args.workdir or Path(tempfile.mkdtemp(prefix="mosaicfocus-scale-"))
    import torch

    print(
        f"mosaicfocus scale benchmark: counts {args.counts}, train.epochs {args.epochs}, --cores {args.cores}; "
        f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} CPUs; "
        f"load before {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    runs = []
    for count in args.counts:
        workdir = base / f"count{count}"
        run = run_count(count, args, cifar, workdir)
        runs.append(run)
        print_jobs(run)
        (base / "scale.json").write_text(json.dumps(runs, indent=1))
        if not args.keep:
            shutil.rmtree(workdir / "results" / "data")
    print_growth(runs)
    print(f"\nfigures: {base / 'scale.json'}")


if __name__ == "__main__":
    main()
