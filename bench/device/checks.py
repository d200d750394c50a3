"""The device runner's parts that need torch, each a subcommand run in its own process (runner.py).

    python bench/device/checks.py environment --device cuda --json FILE
    python bench/device/checks.py compare-runs RUN1 RUN2 --json FILE
    python bench/device/checks.py where RUN1 --configfile config.yaml --overrides JSON --device cuda
        --epochs 200 --budget 90 --json FILE

Each prints what it found, writes it to ``--json`` and exits 0 for a pass, 1 for a fail.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from mosaicfocus import devices  # noqa: E402

# The packages the workflow imports, against this project's pins (requirements.txt): what a
# mismatch on the device machine could change (its torch 2.11 is one, on purpose).
PINNED = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "PyYAML", "pillow")
PINNED += ("snakemake", "jsonschema")


def say(line: str) -> None:
    print(line, flush=True)


def version_of(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pins(requirements: Path = REPO / "requirements.txt") -> dict[str, str]:
    found = {}
    for line in requirements.read_text().splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if version:
            found[name.lower()] = version
    return found


def nvidia_smi() -> str | None:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm", "--format=csv"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def environment(device: str) -> tuple[bool, dict]:
    """Python, torch, CUDA, the GPU and its driver, the numerics in force, and the packages against the pins."""
    found = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "driver": devices.nvidia_driver_version(),
        "device_nodes": sorted(glob.glob("/dev/nvidia*")),  # what hostcheck looks for before the workflow runs
        "nvidia_smi": nvidia_smi(),
        "tf32_switch": devices.tf32_switch(),
    }
    problems = []
    try:
        found["record"] = devices.device_record(devices.prepare_device(device))
    except Exception as error:  # the refusal names torch's reason
        problems.append(f"device {device}: {error}")
    wanted = pins()
    found["packages"] = {name: {"here": version_of(name), "pinned": wanted.get(name.lower())} for name in PINNED}
    for name in ("snakemake", "jsonschema"):
        try:
            __import__(name)
        except ImportError as error:
            problems.append(f"cannot import {name}: {error}")
    found["problems"] = problems
    return not problems, found


def _model_files(run: Path) -> list[Path]:
    return sorted((run / "results" / "models").glob("model_*.pt"))


def compare_runs(first: Path, second: Path) -> tuple[bool, dict]:
    """Two runs from scratch, bit for bit: both matrices and every score file, loss table and model tensor."""
    differences, compared = [], 0
    patterns = ("results/accuracy.csv", "results/eval/accuracy.csv", "results/eval/*.json", "results/models/loss_*.tsv")
    for pattern in patterns:
        files = sorted(first.glob(pattern))
        if not files:
            differences.append(f"{pattern}: none in {first}")
        for path in files:
            other = second / path.relative_to(first)
            compared += 1
            if not other.exists():
                differences.append(f"{path.relative_to(first)}: missing in the second run")
            elif path.suffix == ".json":  # a score file: its numbers (its provenance names the run's own paths)
                a, b = json.loads(path.read_text()), json.loads(other.read_text())
                if (a.get("accuracy"), a.get("correct"), a.get("total")) != (
                    b.get("accuracy"),
                    b.get("correct"),
                    b.get("total"),
                ):
                    differences.append(f"{path.relative_to(first)}: {a.get('accuracy')} against {b.get('accuracy')}")
            elif path.read_bytes() != other.read_bytes():
                differences.append(f"{path.relative_to(first)}: the bytes differ")
    models = _model_files(first)
    if not models:
        differences.append(f"results/models/model_*.pt: none in {first}")
    for path in models:
        a = torch.load(path, weights_only=True)
        b = torch.load(second / path.relative_to(first), weights_only=True)
        compared += 1
        unequal = [name for name in a if name not in b or not torch.equal(a[name], b[name])]
        if unequal or a.keys() != b.keys():
            differences.append(f"{path.relative_to(first)}: {', '.join(unequal) or 'other tensors'} differ")
    return not differences, {"compared": compared, "differences": differences}


class OutOfTime(Exception):
    pass


def where(run: Path, configfile: Path, overrides: dict, device: str, epochs: int, budget: float) -> tuple[bool, dict]:
    """The where network of replicate 1 (its seed and settings from the run's config) on the run's own
    source images and mosaics, for ``epochs`` epochs or until ``budget`` seconds: epochs done, seconds
    per epoch, and the projection to ``epochs`` when it stopped short."""
    import yaml

    from mosaicfocus.data.mosaics import load_mosaics, mosaic_halves
    from mosaicfocus.runplan.configcheck import check_config
    from mosaicfocus.runplan.plan import Plan
    from mosaicfocus.what_network.training import TrainConfig
    from mosaicfocus.where_network.attention import train_attention

    config = merged(yaml.safe_load(configfile.read_text()), overrides)
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    problems = check_config(config, schema)
    if problems:
        return False, {"problems": problems}
    plan = Plan(config)
    settings, seed = TrainConfig(**plan.attention_settings("")), plan.attention_seed("")
    data = run / "results" / "data"
    images, mosaics, _ = load_mosaics(data / "mosaics.pt", data / "source_images.pt")
    train = mosaic_halves(mosaics)[0]
    devices.set_threads(config["train"]["threads"])  # as the workflow's attention job
    target = devices.prepare_device(device)
    ends, summaries = [], []
    started = time.perf_counter()

    def after_epoch(state, model):
        if target.type == "cuda":
            torch.cuda.synchronize()
        ends.append(time.perf_counter() - started)
        summaries.append(state.focus[-1])
        if state.epoch < epochs and ends[-1] + (ends[-1] - (ends[-2] if len(ends) > 1 else 0)) > budget:
            raise OutOfTime

    try:
        train_attention(images, train, settings, seed, epochs, device=target, after_epoch=after_epoch)
    except OutOfTime:
        pass
    times = [b - a for a, b in zip([0.0, *ends], ends)]
    later = statistics.median(times[1:]) if len(times) > 1 else (times[0] if times else float("nan"))
    done = len(times)
    found = {
        "device": devices.device_record(target),
        "mosaics": int(train["label"].numel()),
        "settings": {**plan.attention_settings(""), "seed": seed},
        "epochs_wanted": epochs,
        "epochs_done": done,
        "seconds": ends[-1] if ends else None,
        "first_epoch_s": times[0] if times else None,
        "later_epoch_s_median": later if done > 1 else None,
        "projected_s": (times[0] + (epochs - 1) * later) if times else None,
        "last_epoch": summaries[-1] if summaries else None,
    }
    return done > 0, found


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in, nested mappings key by key (Snakemake's --config)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    env = sub.add_parser("environment")
    env.add_argument("--device", default="cuda")
    runs = sub.add_parser("compare-runs")
    runs.add_argument("first", type=Path)
    runs.add_argument("second", type=Path)
    attention = sub.add_parser("where")
    attention.add_argument("run", type=Path)
    attention.add_argument("--configfile", type=Path, required=True)
    attention.add_argument("--overrides", type=json.loads, default={})
    attention.add_argument("--device", default="cuda")
    attention.add_argument("--epochs", type=int, default=200)
    attention.add_argument("--budget", type=float, default=90)
    for each in (env, runs, attention):
        each.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.part == "environment":
        ok, found = environment(args.device)
    elif args.part == "compare-runs":
        ok, found = compare_runs(args.first, args.second)
    else:
        ok, found = where(args.run, args.configfile, args.overrides, args.device, args.epochs, args.budget)
    say(json.dumps(found, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(found, indent=1, default=str) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
