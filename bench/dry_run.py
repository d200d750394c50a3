"""How long a no-op ``snakemake -n`` takes on a finished run: this checkout against another.

    .venv/bin/python bench/dry_run.py --baseline path/to/other/checkout [--rounds 7]

Runs the tiny config to the end once per checkout (each in its own folder, so each is up
to date with its own code), then times ``snakemake -n`` on it, alternating the two
checkouts round by round so load on the machine hits both alike, and prints the median
and spread of each (wall time, and the CPU time the command used, which load on
the machine disturbs far less) and their difference. The code digest (docs/code.md) is worked out
while the Snakefile parses: this is its cost. Figures: BENCHMARKS.md, "The code digest".
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config" / "tiny.yaml"


def snakemake(checkout: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", "2", "--configfile", str(TINY), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of the workflow")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep the finished runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.workdir or Path(scratch)
        checkouts = {"this checkout": REPO, "baseline": args.baseline.resolve()}
        runs = {name: root / name.replace(" ", "_") for name in checkouts}
        for name, checkout in checkouts.items():
            if not (runs[name] / "results" / "accuracy.csv").is_file():
                print(f"running the tiny config with {name} ({checkout}) ...", flush=True)
                snakemake(checkout, runs[name])
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        cpu: dict[str, list[float]] = {name: [] for name in checkouts}
        for _ in range(args.rounds):
            for name, checkout in checkouts.items():
                before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
                result = snakemake(checkout, runs[name], "-n")
                times[name].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                if "Nothing to be done" not in result.stdout + result.stderr:
                    raise SystemExit(f"{name}: the finished run is not up to date:\n{result.stdout[-2000:]}")
        for name, values in times.items():
            median, low, high = statistics.median(values), min(values), max(values)
            print(f"{name}: no-op snakemake -n wall median {median:.3f} s (min {low:.3f}, max {high:.3f})")
            used = cpu[name]
            print(f"{name}: CPU time (user + sys) median {statistics.median(used):.3f} s (min {min(used):.3f})")
        for label, figures in (("wall", times), ("CPU", cpu)):
            diff = statistics.median(figures["this checkout"]) - statistics.median(figures["baseline"])
            print(f"difference of the {label} medians: {diff:+.3f} s")


if __name__ == "__main__":
    main()
