"""The calls on a lent GPU: every check issue 28 asks for, each part in its own time limit.

    bash bench/device/run.sh            # on the device machine; docs/gpu.md gives the exact calls
    bash bench/device/run.sh --parts install,environment,authors --budget 540   # the second call

``--parts`` picks the parts (by default the first call's seven, in this order); each prints
PASS or FAIL lines (some give two), and the summary under ``--out`` ($OUT) is rewritten after
every part (summary.txt, summary.json), so a run cut off keeps what it did:

- install: the bundle's wheels into a private folder (pip --no-index --no-deps --target) put
  first on PYTHONPATH; then every Requires-Dist of theirs against what Python finds there;
- environment: Python, torch, CUDA, cuDNN, the GPU and its driver, the numerics in force, the
  packages against the project's pins; PASS when torch can use the device and Snakemake imports;
- gpu_check: bench/gpu_check.py (its own PASS/FAIL lines; PASS when it exits 0);
- workflow: the full default workflow (data stage included), ``snakemake --cores 16``, on the
  bundle's CIFAR-10 copy with the run's device; PASS when it finishes with the matrix and its
  models' records name that device; the wall time per rule (Snakemake's benchmark files) and in
  all, against the target (60 s) on a line of its own;
- repeat: the same from scratch in another folder; PASS when both matrices, every score, loss
  table and model tensor are bit for bit the same;
- replicate: the matrix against the CPU replicate study (docs/replicate-study/): PASS when the
  mean |difference| is at most 1.5 points; the cells outside mean +- 2 sd are listed;
- where: the where network of replicate 1 on the run's mosaics, timed until its epochs are done or
  the budget is spent; PASS when it trained; epochs done and the projection to all of them;
- authors (not in the default list; issue 27): the authors' training protocol, ``train: {dtype:
  float64, stop_loss: 0.001}``, with 3 replicates of the full default experiment, in the folder
  ``authors/`` of the scratch folder, within what is left of the budget (or ``--authors-limit``);
  its small result files go to $OUT/authors-results.tar.gz also when the time ran out, and
  ``compare --study`` of a finished run to $OUT/authors-study.txt; PASS when the run finished with
  its 3 replicates and its models' records hold the protocol and the config file's other training
  settings; it prints each model's stop epoch and each replicate's wall time.

Exit status 0 when every line says PASS. The CPU rehearsal (tests/test_device_runner.py) runs
the same with ``--device cpu``, a tiny config and a bundle of already-installed packages.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from wheels import environment_problems, read_wheels  # noqa: E402

ARCHIVE_NAME = "cifar10-jpg.tar.gz"
# Each part's own limit (s); a part gets no more than what is left of --budget.
LIMITS = {"install": 90, "environment": 60, "gpu_check": 150, "workflow": 150, "repeat": 150, "where": 120}
# What --parts may name; the first call runs DEFAULT_PARTS, the second install,environment,authors.
PARTS = ("install", "environment", "gpu_check", "workflow", "repeat", "replicate", "where", "authors")
DEFAULT_PARTS = PARTS[:-1]
# Issue 27: the authors' protocol (docs/protocol.md, "Differences from the authors' runs") on top of
# the config file, which keeps every other setting; Snakemake merges a --config dict key by key.
AUTHORS_REPLICATES = 3
AUTHORS_TRAIN = {"dtype": "float64", "stop_loss": 0.001}
# Seconds of the budget kept back from the authors' workflow: stopping it (up to 20 s), its archive
# and the study comparison.
AUTHORS_AFTERMATH_S = 30
SMALL_SUFFIXES = {".csv", ".tsv", ".json", ".txt", ".log", ".png"}


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = (self.out / "runner.log").open("a")
        self.started = time.perf_counter()
        self.verdicts: list[dict] = []
        self.parts: dict[str, dict] = {}
        self.env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
        # The package for the parts that import it (install puts the bundle's folder before it).
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        )
        self.python = sys.executable

    # -- bookkeeping ---------------------------------------------------------------------------

    def left(self) -> float:
        return self.args.budget - (time.perf_counter() - self.started)

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def verdict(self, name: str, ok: bool, detail: str) -> bool:
        self.verdicts.append({"name": name, "status": "PASS" if ok else "FAIL", "detail": detail})
        self.say(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        return ok

    def write_summary(self, finished: bool = False) -> None:
        failed = [v["name"] for v in self.verdicts if v["status"] == "FAIL"]
        summary = {
            "device": self.args.device,
            "configfile": str(self.args.configfile),
            "budget_s": self.args.budget,
            "elapsed_s": round(time.perf_counter() - self.started, 1),
            "finished": finished,
            "verdicts": self.verdicts,
            "failed": failed,
            "parts": self.parts,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
        lines = [f"{v['status']} {v['name']}: {v['detail']}" for v in self.verdicts]
        state = "finished" if finished else "running (or cut off)"
        lines.append(
            f"{len(self.verdicts) - len(failed)} PASS, {len(failed)} FAIL; {summary['elapsed_s']} s of "
            f"{self.args.budget} s; {state}"
        )
        (self.out / "summary.txt").write_text("\n".join(lines) + "\n")

    def run(self, name: str, command: list, limit: float, cwd: Path = REPO, shown: str | None = None) -> dict:
        """``command`` in a process group of its own, its output in runner.log; killed after ``limit`` s."""
        limit = max(1.0, min(limit, self.left()))
        self.say(f"$ {shown or ' '.join(map(str, command))}   [limit {limit:.0f} s]")
        started = time.perf_counter()
        self.log.flush()
        first = self.log.tell()
        process = subprocess.Popen(
            command, cwd=cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        timed_out = False
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=grace)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        self.log.flush()
        seconds = time.perf_counter() - started
        with (self.out / "runner.log").open(errors="replace") as handle:
            handle.seek(first)
            output = handle.read()
        result = {"rc": process.returncode, "seconds": round(seconds, 2), "timed_out": timed_out, "limit_s": limit}
        if timed_out or process.returncode != 0:
            ended = "timed out" if timed_out else f"exit {process.returncode}"
            self.say(f"  {name}: {ended} after {seconds:.1f} s; its last lines:")
            for line in output.strip().splitlines()[-15:]:
                self.say(f"  | {line[:300]}")
        return result | {"output": output}

    def part(self, name: str, function) -> None:
        """One part: its verdicts, its record in the summary, the summary written whatever happens."""
        self.say(f"\n== {name} ({self.left():.0f} s of the budget left)")
        started = time.perf_counter()
        try:
            if self.left() < 5:
                self.verdict(name, False, "not run: the time budget was spent")
            else:
                self.parts[name] = function() or {}
        except Exception as error:  # a part's own bug must not cost the parts after it
            self.verdict(name, False, f"the runner failed: {type(error).__name__}: {error}")
        self.parts.setdefault(name, {})["seconds"] = round(time.perf_counter() - started, 1)
        self.write_summary()

    # -- the parts -----------------------------------------------------------------------------

    def install(self) -> dict:
        wheels_dir = self.args.bundle / "wheels"
        wheels = sorted(wheels_dir.glob("*.whl"))
        site = self.args.site
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(site), str(REPO / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        )
        if not wheels:
            self.verdict("install", True, f"no wheels in {wheels_dir}: the packages are already installed here")
            return {"wheels": 0}
        command = [self.python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels_dir)]
        command += ["--no-deps", "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site), *wheels]
        shown = " ".join(map(str, command[: -len(wheels)])) + f" {wheels_dir}/*.whl ({len(wheels)} wheels)"
        done = self.run("install", command, LIMITS["install"], shown=shown)
        if not self.verdict("install", done["rc"] == 0, f"{len(wheels)} wheels into {site} in {done['seconds']} s"):
            return {"wheels": len(wheels), "rc": done["rc"]}
        path = [str(site), *sys.path]

        def version_of(name: str) -> str | None:
            return next((d.version for d in importlib.metadata.distributions(name=name, path=path)), None)

        problems = environment_problems(read_wheels(wheels_dir), version_of)
        detail = "; ".join(problems) if problems else f"every Requires-Dist of the {len(wheels)} wheels is met"
        self.verdict("requirements", not problems, detail)
        return {"wheels": len(wheels), "seconds": done["seconds"], "problems": problems}

    def checks(self, name: str, arguments: list, limit: float) -> tuple[dict, dict]:
        """A subcommand of checks.py: (its process result, the JSON it wrote)."""
        target = self.args.scratch / "parts" / f"{name}.json"  # its content goes into summary.json
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        done = self.run(name, [self.python, str(HERE / "checks.py"), *arguments, "--json", str(target)], limit)
        found = json.loads(target.read_text()) if target.exists() else {}
        return done, found

    def environment(self) -> dict:
        done, found = self.checks("environment", ["environment", "--device", self.args.device], LIMITS["environment"])
        record = found.get("record", {})
        self.say(
            f"  Python {found.get('python')}, torch {found.get('torch')} (CUDA {found.get('torch_cuda')}, "
            f"cuDNN {found.get('cudnn')}), driver {found.get('driver')}, TF32 switch {found.get('tf32_switch')}"
        )
        self.say(f"  device record: {json.dumps(record)}")
        self.say(f"  device nodes: {' '.join(found.get('device_nodes', [])) or 'none'}")
        if found.get("nvidia_smi"):
            for line in found["nvidia_smi"].splitlines():
                self.say(f"  nvidia-smi: {line}")
        for name, versions in found.get("packages", {}).items():
            if versions["here"] != versions["pinned"]:
                self.say(f"  {name} {versions['here']} here, {versions['pinned']} pinned")
        problems = found.get("problems", ["checks.py environment wrote nothing"])
        name = record.get("name") or record.get("processor") or "?"
        self.verdict("environment", done["rc"] == 0, "; ".join(problems) or f"{self.args.device}: {name}")
        return found

    def gpu_check(self) -> dict:
        command = [self.python, str(REPO / "bench" / "gpu_check.py"), "--device", self.args.device]
        done = self.run("gpu_check", command + (["--quick"] if self.args.quick else []), LIMITS["gpu_check"])
        lines = [line for line in done["output"].splitlines() if line.startswith(("PASS ", "FAIL ", "6. "))]
        for line in lines:
            self.say(f"  {line}")
        said = reversed(done["output"].splitlines())
        closing = next((line.removeprefix("gpu_check: ") for line in said if line.startswith("gpu_check:")), "")
        detail = closing or ("timed out" if done["timed_out"] else f"exit {done['rc']}")
        self.verdict("gpu_check", done["rc"] == 0, f"{detail} ({done['seconds']} s)")
        return {"rc": done["rc"], "seconds": done["seconds"], "lines": lines}

    def data(self) -> dict:
        """The bundle's archive extracted once (untimed for the workflow): the imagefolder both runs read."""
        root = self.args.scratch / "data"
        if not (root / "cifar10" / "train").is_dir():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            started = time.perf_counter()
            with tarfile.open(self.args.bundle / ARCHIVE_NAME) as tar:
                tar.extractall(root, filter="data")
            self.say(f"  {ARCHIVE_NAME} extracted in {time.perf_counter() - started:.1f} s (not counted below)")
        return {"device": self.args.device, "data": {"source": "imagefolder", "root": str(root / "cifar10")}}

    def snakemake(self, folder: Path, overrides: dict, limit: float) -> dict:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        command = [self.python, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
        command += ["--configfile", str(self.args.configfile), "--directory", str(folder)]
        command += ["--cores", str(self.args.cores), "--config", *config_arguments(overrides)]
        return self.run(folder.name, command, limit)

    def workflow(self) -> dict:
        overrides = self.data()
        run1 = self.args.scratch / "run1"
        done = self.snakemake(run1, overrides, LIMITS["workflow"])
        matrix = run1 / "results" / "accuracy.csv"
        finished = done["rc"] == 0 and matrix.exists()
        rules = rule_seconds(run1)
        for rule, seconds in rules.items():
            self.say(f"  {rule}: {seconds:.1f} s")
        # report and study keep no benchmark file: they are in the rest, with Snakemake's own time.
        self.say(f"  the rest (report, study, Snakemake itself): {done['seconds'] - sum(rules.values()):.1f} s")
        devices = model_devices(run1)
        wanted = self.args.device
        right_device = bool(devices) and all(d.get("type") == wanted for d in devices)
        named = sorted({d.get("name") or d.get("processor") or "?" for d in devices})
        self.verdict(
            "workflow",
            finished and right_device,
            f"{'finished' if finished else 'did not finish'} in {done['seconds']} s wall; "
            f"jobs' own time {sum(rules.values()):.1f} s; models trained on {wanted}: {', '.join(named) or 'none'}",
        )
        if finished:
            target = self.args.target_seconds
            self.verdict("workflow time", done["seconds"] <= target, f"{done['seconds']} s wall (target <= {target} s)")
        self.keep_results(run1, "run1-results.tar.gz")
        return {"seconds": done["seconds"], "rc": done["rc"], "rules_s": rules, "overrides": overrides}

    def repeat(self) -> dict:
        overrides = self.data()
        run1, run2 = self.args.scratch / "run1", self.args.scratch / "run2"
        if not (run1 / "results" / "accuracy.csv").exists():  # the time goes to the where network instead
            self.verdict("repeat", False, "not run: the first run did not finish")
            return {}
        done = self.snakemake(run2, overrides, LIMITS["repeat"])
        if done["rc"] != 0:
            self.verdict("repeat", False, f"the second run did not finish ({done['seconds']} s)")
            return {"seconds": done["seconds"], "rc": done["rc"]}
        compared, found = self.checks("compare", ["compare-runs", str(run1), str(run2)], 120)
        differences = found.get("differences", ["checks.py compare-runs wrote nothing"])
        detail = "; ".join(differences[:5]) if differences else f"{found['compared']} files bit for bit the same"
        self.verdict("repeat", compared["rc"] == 0, f"second run from scratch in {done['seconds']} s: {detail}")
        return {"seconds": done["seconds"], **found}

    def replicate(self) -> dict:
        matrix = self.args.scratch / "run1" / "results" / "accuracy.csv"
        reference = self.args.reference
        mean, sd = read_matrix(reference / "accuracy.csv"), read_matrix(reference / "accuracy_sd.csv")
        found = against_replicates(read_matrix(matrix), mean, sd)
        outside = [f"{row}/{col} {d:+.2f} (sd {sd:.2f})" for row, col, d, sd in found["outside"]]
        more = f", ... ({len(outside) - 12} more in summary.json)" if len(outside) > 12 else ""
        listed = ", ".join(outside[:12]) + more
        self.say(f"  cells (trained/tested) outside mean +- 2 sd, {len(outside)} of {found['cells']}:")
        self.say(f"  {listed or 'none'}")
        bound = self.args.max_mean_difference
        self.verdict(
            "replicate",
            found["mean_abs_difference"] <= bound,
            f"mean |difference| from the CPU replicate study {found['mean_abs_difference']:.2f} points "
            f"(at most {bound}); largest {found['max_abs_difference']:.2f}; "
            f"{len(found['outside'])} of {found['cells']} cells outside mean +- 2 sd",
        )
        return found

    def where(self) -> dict:
        run1 = self.args.scratch / "run1"
        budget = max(5.0, min(LIMITS["where"], self.left()) - 20)  # 20 s for the process to start and load
        arguments = ["where", str(run1), "--configfile", str(self.args.configfile), "--device", self.args.device]
        arguments += ["--overrides", json.dumps(self.data()), "--epochs", str(self.args.where_epochs)]
        done, found = self.checks("where", [*arguments, "--budget", str(budget)], budget + 20)
        epochs, wanted = found.get("epochs_done", 0), self.args.where_epochs
        if epochs:
            later = found.get("later_epoch_s_median")
            detail = (
                f"{epochs} of {wanted} epochs in {found['seconds']:.1f} s (first {found['first_epoch_s']:.2f} s, "
                f"then {later:.3f} s median); "
                if later
                else f"{epochs} of {wanted} epochs in {found['seconds']:.1f} s; "
            )
            detail += f"{wanted} epochs projected at {found['projected_s']:.0f} s" + (
                " (all done)" if epochs == wanted else f" (time budget {budget:.0f} s)"
            )
        else:
            detail = "no epoch finished" + (" (timed out)" if done["timed_out"] else "")
        self.verdict("where", done["rc"] == 0 and epochs > 0, detail)
        return found

    def authors(self) -> dict:
        """Issue 27: the authors' protocol (float64, their stop rule) with 3 replicates of the full
        default experiment; what finished is kept under $OUT whether or not the time ran out."""
        overrides = self.data()
        configured = configured_train(self.args.configfile)
        train = dict(AUTHORS_TRAIN)
        if "epochs" in configured:
            # One GPU job per replicate's training: GPU jobs run one at a time in an order Snakemake
            # picks, and the chunks of three replicates taken in turns could leave none finished
            # when the time runs out. The weights are the same for any chunking (docs/gpu.md).
            train["epochs_per_job"] = configured["epochs"]
        overrides.update(replicates=AUTHORS_REPLICATES, train=train)
        folder = self.args.scratch / "authors"
        limit = self.left() - AUTHORS_AFTERMATH_S
        if self.args.authors_limit is not None:
            limit = min(limit, self.args.authors_limit)
        done = self.snakemake(folder, overrides, limit)
        kept = self.keep_results(folder, "authors-results.tar.gz")  # first: it must not wait on anything
        self.say(
            f"  authors-results.tar.gz: {kept} files"
            if kept
            else "  authors-results.tar.gz: not written (the run made no results folder)"
        )
        results = folder / "results"
        matrices = replicate_matrices(folder)
        healths = model_healths(folder)
        seconds = replicate_seconds(folder)
        for replicate in sorted(set(seconds) - {0}):
            jobs = seconds[replicate]
            listed = ", ".join(f"{rule} {s:.1f}" for rule, s in jobs.items())
            self.say(f"  replicate {replicate}: {sum(jobs.values()):.1f} s of jobs ({listed})")
        if seconds.get(0):
            self.say("  shared: " + ", ".join(f"{rule} {s:.1f} s" for rule, s in seconds[0].items()))
        for replicate, models in sorted(healths.items()):
            statuses = [models[level]["status"] for level in sorted(models)]
            learned = sum(status == "learned" for status in statuses)
            self.say(
                f"  replicate {replicate}: stopped after epoch (focus 1..9, - = never) {stop_text(models)}; "
                f"{learned} of {len(models)} learned"
            )
        progress = training_progress(folder)
        for replicate, (epoch, seconds_in) in progress.items():
            self.say(
                f"  replicate {replicate}: its training log reaches epoch {epoch}, {seconds_in:.0f} s after its start"
            )
        problems = settings_problems(folder, configured, self.args.device)
        for problem in problems:
            self.say(f"  settings: {problem}")
        study = {}
        if (results / "accuracy.csv").is_file():
            study = self.authors_study(folder)
        else:
            self.say("  authors-study.txt: not written: no results/accuracy.csv (the run did not finish)")
        n, wanted = len(matrices), AUTHORS_REPLICATES
        finished = done["rc"] == 0 and (results / "accuracy.csv").is_file()
        stops = "; ".join(f"r{r} {stop_text(models)}" for r, models in sorted(healths.items())) or "no model record"
        if finished and n == wanted:
            detail = (
                f"{n} replicates in {done['seconds']} s wall (float64, stop_loss 0.001); stopped after epoch: {stops}"
            )
        else:
            ended = "finished" if done["rc"] == 0 else "timed out" if done["timed_out"] else f"exit {done['rc']}"
            detail = (
                f"{ended} after {done['seconds']} s: {n} of {wanted} replicates' matrices "
                f"({', '.join(matrices) or 'none'}); stopped after epoch: {stops}"
            )
            reached = [f"r{r} epoch {epoch}" for r, (epoch, _) in progress.items() if r not in healths]
            detail += f"; unfinished training reached {', '.join(reached)}" if reached else ""
        if problems:
            detail += "; " + "; ".join(problems)
        self.verdict("authors", finished and n == wanted and not problems, detail)
        return {
            "overrides": overrides,
            "seconds": done["seconds"],
            "rc": done["rc"],
            "timed_out": done["timed_out"],
            "limit_s": done["limit_s"],
            "archived_files": kept,
            "replicate_matrices": matrices,
            "stopped_at_epoch": {r: {lv: h["stopped_at_epoch"] for lv, h in m.items()} for r, m in healths.items()},
            "status": {r: {lv: h["status"] for lv, h in m.items()} for r, m in healths.items()},
            "replicate_seconds": seconds,
            "training_log": progress,
            "settings_problems": problems,
            **study,
        }

    def authors_study(self, folder: Path) -> dict:
        """compare --study of the finished run into $OUT/authors-study.txt, and its mean matrix
        against the CPU float32 replicate study (printed, not judged: the later comparison's)."""
        command = [self.python, "-m", "mosaicfocus.reporting.compare", "--study", str(folder / "results")]
        done = self.run("study", command, 60)
        (self.out / "authors-study.txt").write_text(done["output"])
        said = "written" if done["rc"] == 0 else f"written, but compare ended with exit {done['rc']}"
        self.say(f"  authors-study.txt: {said} ({len(done['output'].splitlines())} lines)")
        reference = self.args.reference
        found = against_replicates(
            read_matrix(folder / "results" / "accuracy.csv"),
            read_matrix(reference / "accuracy.csv"),
            read_matrix(reference / "accuracy_sd.csv"),
        )
        self.say(
            f"  against the CPU replicate study (float32, {reference.name}): mean |difference| "
            f"{found['mean_abs_difference']:.2f} points, largest {found['max_abs_difference']:.2f}; "
            f"{len(found['outside'])} of {found['cells']} cells outside its mean +- 2 sd (not judged here)"
        )
        return {"study_rc": done["rc"], "against_replicate_study": found}

    def keep_results(self, run: Path, name: str) -> int:
        """The run's small result files (matrices, records, logs, benchmarks, plots) under $OUT, one
        archive; the number of files in it (0 and no archive when the run has no results folder)."""
        results = run / "results"
        if not results.is_dir():
            return 0
        kept = 0
        with tarfile.open(self.out / name, "w:gz") as tar:
            for path in sorted(results.rglob("*")):
                if path.is_file() and path.suffix in SMALL_SUFFIXES:
                    tar.add(path, arcname=str(path.relative_to(run)))
                    kept += 1
        return kept


def rule_seconds(run: Path) -> dict[str, float]:
    """Wall seconds per job, from Snakemake's benchmark files (results/benchmarks/<job>.tsv)."""
    found = {}
    for path in sorted((run / "results").glob("**/benchmarks/*.tsv")):
        rows = list(csv.DictReader(path.open(), delimiter="\t"))
        if rows:
            found[str(path.relative_to(run / "results").with_suffix("")).replace("benchmarks/", "")] = float(
                rows[0]["s"]
            )
    return found


def config_arguments(overrides: dict) -> list[str]:
    """``--config`` entries for the overrides: key=JSON. Snakemake reads each value as YAML (JSON is
    YAML) with its nested scalars as strings, which the workflow's config check reads back, and
    merges a dict into the config file's section of that name key by key: ``train={"dtype":
    "float64"}`` keeps the config file's lr and epochs (tests/test_device_runner.py checks both)."""
    return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]


def configured_train(configfile: Path) -> dict:
    """The config file's train section (what the authors' run must keep besides the protocol)."""
    import yaml  # the machine has it; only the authors' part needs it

    return (yaml.safe_load(configfile.read_text()) or {}).get("train") or {}


def replicate_of(run: Path, path: Path) -> int:
    """Replicate of a file in a results folder: r for results/replicates/<r>/..., else 1."""
    parts = path.relative_to(run / "results").parts
    return int(parts[1]) if parts[0] == "replicates" else 1


def replicate_matrices(run: Path) -> list[str]:
    """The replicates' matrices that exist (results/eval/accuracy.csv, results/replicates/*/eval/accuracy.csv)."""
    found = [run / "results" / "eval" / "accuracy.csv", *(run / "results" / "replicates").glob("*/eval/accuracy.csv")]
    existing = sorted((p for p in found if p.is_file()), key=lambda p: replicate_of(run, p))
    return [str(p.relative_to(run)) for p in existing]


def model_healths(run: Path) -> dict[int, dict[int, dict]]:
    """replicate -> focus level -> {status, stopped_at_epoch (None: never)}: from
    results/training_health.csv when the run made it, else from the model records there are."""
    table = run / "results" / "training_health.csv"
    found: dict[int, dict[int, dict]] = {}
    if table.is_file():
        for row in csv.DictReader(table.open()):
            stopped = row.get("stopped_at_epoch") or None
            found.setdefault(int(row["replicate"]), {})[int(row["trained_on"])] = {
                "status": row["status"],
                "stopped_at_epoch": None if stopped is None else int(float(stopped)),
            }
        return found
    for path in sorted((run / "results").glob("**/models/model_*.json")):
        health = json.loads(path.read_text())["meta"]["health"]
        level = int(path.stem.removeprefix("model_"))
        found.setdefault(replicate_of(run, path), {})[level] = {
            "status": health["status"],
            "stopped_at_epoch": health.get("stopped_at_epoch"),
        }
    return dict(sorted(found.items()))


def stop_text(models: dict[int, dict]) -> str:
    """The stop epochs of a replicate's models in focus order, - for a model that never stopped."""
    return " ".join(
        "-" if models[level]["stopped_at_epoch"] is None else str(models[level]["stopped_at_epoch"])
        for level in sorted(models)
    )


EPOCH_LINE = re.compile(r"^\[([-\d]+ [:\d]+)\] .*: network \d+: epoch (\d+) loss ")


def training_progress(run: Path) -> dict[int, tuple[int, float]]:
    """replicate -> (the furthest epoch its lock-step training log reached, seconds from the log's
    first line to that line): how far a replicate cut off by the time limit got."""
    found: dict[int, tuple[int, float]] = {}
    for path in sorted((run / "results").glob("**/logs/train_lockstep*.log")):
        lines = path.read_text(errors="replace").splitlines()
        start = re.match(r"^\[([-\d]+ [:\d]+)\]", lines[0]) if lines else None
        epochs = [(int(m[2]), m[1]) for m in map(EPOCH_LINE.match, lines) if m]
        if not (start and epochs):
            continue
        epoch, stamp = max(epochs)
        seconds = (datetime.fromisoformat(stamp) - datetime.fromisoformat(start[1])).total_seconds()
        replicate = replicate_of(run, path)
        if epoch > found.get(replicate, (0, 0.0))[0]:
            found[replicate] = (epoch, seconds)
    return dict(sorted(found.items()))


def replicate_seconds(run: Path) -> dict[int, dict[str, float]]:
    """Wall seconds per job from the benchmark files, by replicate (0: the jobs the replicates
    share, source_images)."""
    found: dict[int, dict[str, float]] = {}
    for job, seconds in rule_seconds(run).items():
        parts = job.split("/")
        replicate = int(parts[1]) if parts[0] == "replicates" else 0 if parts[0].startswith("source_images") else 1
        found.setdefault(replicate, {})[parts[-1]] = seconds
    return dict(sorted(found.items()))


def settings_problems(run: Path, configured: dict, device: str) -> list[str]:
    """What the models' records say they were trained with and on, against the authors' protocol,
    the config file's other training settings (a --config dict that replaced the section would show
    here) and the run's device."""
    wanted = {
        **{key: configured[key] for key in ("lr", "momentum", "batch_size", "restarts", "epochs") if key in configured},
        **AUTHORS_TRAIN,
    }
    problems = []
    for path in sorted((run / "results").glob("**/models/model_*.json")):
        meta = json.loads(path.read_text())["meta"]
        for key, value in wanted.items():
            if meta["train"].get(key) != value:
                problems.append(f"{path.relative_to(run)} has {key} {meta['train'].get(key)!r}, not {value!r}")
        if meta["device"].get("type") != device:
            problems.append(f"{path.relative_to(run)} was trained on {meta['device'].get('type')}, not {device}")
    return problems[:5] + ([f"... {len(problems) - 5} more"] if len(problems) > 5 else [])


def model_devices(run: Path) -> list[dict]:
    """The device record of every trained model of the run."""
    records = []
    for path in sorted((run / "results" / "models").glob("model_*.json")):
        records.append(json.loads(path.read_text())["meta"]["device"])
    return records


def read_matrix(path: Path) -> dict[tuple[str, str], float]:
    """A result matrix (rows trained_on, columns tested on), cell -> value."""
    with path.open() as handle:
        rows = list(csv.reader(handle))
    header = rows[0][1:]
    return {(row[0], col): float(value) for row in rows[1:] for col, value in zip(header, row[1:]) if value != ""}


def against_replicates(matrix: dict, mean: dict, sd: dict) -> dict:
    """The matrix against the replicate study's mean and sd, cell by cell over the cells they share."""
    cells = [cell for cell in mean if cell in matrix]
    differences = {cell: matrix[cell] - mean[cell] for cell in cells}
    outside = [
        (row, col, differences[(row, col)], sd.get((row, col), 0.0))
        for row, col in cells
        if abs(differences[(row, col)]) > 2 * sd.get((row, col), 0.0)
    ]
    absolute = [abs(d) for d in differences.values()]
    return {
        "cells": len(cells),
        "mean_abs_difference": statistics.fmean(absolute) if absolute else float("inf"),
        "max_abs_difference": max(absolute, default=float("inf")),
        "outside": outside,
    }


def part_list(text: str) -> list[str]:
    """--parts: names from PARTS, comma-separated."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or 'no part'}: the parts are {', '.join(PARTS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/mosaicfocus-device-out")))
    parser.add_argument("--bundle", type=Path, default=HERE / "bundle")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--cores", type=int, default=16)
    parser.add_argument("--budget", type=float, default=480, help="seconds for all parts (default 8 minutes)")
    parser.add_argument("--target-seconds", type=float, default=60, help="the workflow's wall-time target")
    parser.add_argument("--where-epochs", type=int, default=200)
    parser.add_argument("--reference", type=Path, default=REPO / "docs" / "replicate-study")
    parser.add_argument("--max-mean-difference", type=float, default=1.5)
    parser.add_argument("--quick", action="store_true", help="gpu_check.py on CPU-sized data")
    parser.add_argument("--site", type=Path, default=Path("/tmp/mosaicfocus-site"))
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/mosaicfocus-scratch"))
    parser.add_argument(
        "--parts",
        type=part_list,
        default=list(DEFAULT_PARTS),
        help=f"the parts to run, comma-separated, in order (default {','.join(DEFAULT_PARTS)}; also: authors)",
    )
    parser.add_argument(
        "--authors-limit", type=float, help="seconds for the authors' workflow (default: what is left of the budget)"
    )
    runner = Runner(parser.parse_args())
    runner.say(f"mosaicfocus device run: device {runner.args.device}, budget {runner.args.budget:.0f} s, ")
    runner.say(f"config {runner.args.configfile}, bundle {runner.args.bundle}, summary in {runner.out}")
    runner.say(f"parts: {', '.join(runner.args.parts)}")
    for name in runner.args.parts:
        runner.part(name, getattr(runner, name))
    runner.write_summary(finished=True)
    runner.say("\n== summary (" + str(runner.out / "summary.txt") + ")")
    runner.say((runner.out / "summary.txt").read_text().rstrip())
    sys.exit(0 if all(v["status"] == "PASS" for v in runner.verdicts) else 1)


if __name__ == "__main__":
    main()
