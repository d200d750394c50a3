"""What train.dtype: float64 costs: time per epoch against float32, one training, 1 thread.

    .venv/bin/python bench/dtype.py               # about a minute on a quiet core

2,000 synthetic images (the learnable synthetic source, normalised as the
datasets are), batch 256, the study's SGD settings, ``--epochs`` epochs per
measurement; float32 runs this workflow's CPU path (row phases), float64 the
direct form (train.dtype: float64), and float32 in the direct form tells the
type's share from the form's. They alternate ``--rounds`` times, so that a
change of load hits all; wall and CPU seconds per epoch (CPU: this
process's, which moves less with other work on the machine). Figures:
BENCHMARKS.md, "float64".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from mosaicfocus.data.datasets import normalize  # noqa: E402
from mosaicfocus.data.sources import make_synthetic  # noqa: E402
from mosaicfocus.devices import set_threads  # noqa: E402
from mosaicfocus.what_network.training import TrainConfig, train_epochs  # noqa: E402

STUDY = TrainConfig(lr=0.01, momentum=0.9, batch_size=256, outputs=3, restarts=0)


def seconds_per_epoch(images, labels, config: TrainConfig, epochs: int, phased: bool | None) -> tuple[float, float]:
    """Median wall and CPU seconds of the epochs of one training."""
    stamps = [(time.perf_counter(), time.process_time())]

    def stamp(line: str) -> None:
        stamps.append((time.perf_counter(), time.process_time()))

    train_epochs(images, labels, config, 1, epochs, log=stamp, phased=phased)
    wall = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    set_threads(1)
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, load {os.getloadavg()[0]:.1f}")
    source, classes, _ = make_synthetic(args.images // 3 + 1, seed=0)
    keep = classes < 3
    images, labels = normalize(source[keep][: args.images]), classes[keep][: args.images]
    print(f"{images.shape[0]} images, batch 256, {args.epochs} epochs per training, 1 thread")
    variants = {  # name: (train.dtype, phased)
        "float32 (row phases, the default)": ("float32", None),
        "float64 (direct form)": ("float64", None),
        "float32, direct form": ("float32", False),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (dtype, phased) in variants.items():
            config = replace(STUDY, dtype=dtype)
            times[name].append(seconds_per_epoch(images, labels, config, args.epochs, phased))
    for name, runs in times.items():
        print(f"  {name}: " + ", ".join(f"{wall:.2f} s wall / {cpu:.2f} s CPU per epoch" for wall, cpu in runs))
    best = {name: (min(w for w, _ in runs), min(c for _, c in runs)) for name, runs in times.items()}
    default, double, direct = best.values()
    for against, label in ((default, "the default"), (direct, "float32 in the same form")):
        ratio_wall, ratio_cpu = double[0] / against[0], double[1] / against[1]
        print(f"float64 / {label}, best of each: {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU time per epoch")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
