"""Logging for rule scripts: timestamped lines in the rule's log, user errors shown plainly."""

from __future__ import annotations

import csv
import re
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mosaicfocus.errors import MosaicFocusError


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (10^6 bytes, the unit of mem_mb).

    The kernel's high-water mark: exact, where Snakemake's benchmark samples every
    0.5 s, then every 30 s, and can miss a short peak.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


PEAK_LINE = "peak RSS {peak:,.0f} MB of {mem_mb} MB declared (mem_mb); runtime {runtime} min declared"
_PEAK_PATTERN = re.compile(r"peak RSS ([\d,]+) MB of (\d+) MB declared \(mem_mb\); runtime (\d+) min declared")


def job_memory(results: str | Path) -> list[dict]:
    """Every finished job under ``results``: its log's peak RSS and declared mem_mb, and,
    where the rule has a benchmark file (same folder level, ``benchmarks/<name>.tsv``),
    Snakemake's sampled ``max_rss`` (MiB there, MB here) and wall seconds.

    Snakemake's sample sums the job's process tree until it is gone, so it also sees
    the interpreter's exit; the log's figure is the kernel's high-water mark up to
    the job's last line. A job is inside its memory when both are.
    """
    jobs = []
    for log in sorted(Path(results).rglob("logs/*.log")):
        found = _PEAK_PATTERN.findall(log.read_text())
        if not found:
            continue
        peak, mem_mb, runtime = found[-1]  # a job's log is rewritten on every run: one line
        job = {
            "job": str(log.relative_to(results).with_suffix("")).replace("logs/", ""),
            "peak_mb": int(peak.replace(",", "")),
            "declared_mb": int(mem_mb),
            "declared_min": int(runtime),
            "max_rss_mb": None,
            "wall_s": None,
        }
        benchmark = log.parent.parent / "benchmarks" / (log.stem + ".tsv")
        if benchmark.exists():
            with open(benchmark) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            job["max_rss_mb"] = round(float(row["max_rss"]) * 2**20 / 1e6) if row["max_rss"] != "NA" else None
            job["wall_s"] = float(row["s"])
        jobs.append(job)
    return jobs


@contextmanager
def job_log(path: str | None, name: str, declared: Mapping | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``log(line)``; on failure write the reason to the log and stderr, then exit 1.

    A finished job logs its wall time and its peak memory beside what it asked the
    scheduler for: ``declared``, the rule's resources (``snakemake.resources``).

    A MosaicFocusError is a problem the user can fix, so it is shown as its
    message alone; anything else keeps its traceback for debugging.
    """
    handle = None
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w", buffering=1)
    started = time.perf_counter()

    def log(line: str) -> None:
        stamped = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {name}: {line}"
        if handle:
            handle.write(stamped + "\n")
        else:
            print(stamped, flush=True)

    try:
        yield log
        log(f"done in {time.perf_counter() - started:.1f} s")
        declared = declared or {}
        log(
            PEAK_LINE.format(
                peak=peak_rss_mb(), mem_mb=declared.get("mem_mb", "?"), runtime=declared.get("runtime", "?")
            )
        )
    except MosaicFocusError as exc:
        log(f"ERROR: {exc}")
        print(f"{name}: ERROR: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except BaseException:
        log("ERROR:\n" + traceback.format_exc())
        raise
    finally:
        if handle:
            handle.close()
