"""The lock-step trainer on the CPU against the per-model jobs, the same work.

    .venv/bin/python bench/lockstep.py            # about four minutes on 2 cores

Per-model: two 1-thread training jobs side by side, as `snakemake --cores 2` runs
the eighteen jobs of a replicate. Lock-step: one job training all nine networks
together (train.lockstep: true), with 1 and with 2 threads. Each on 10,000
random images per network, batch 256, the study's SGD settings; images/s counts
every network's images, so the two are the same work per image. Prints the
share of the float32 matmul peak and the training time of a full run (9 models x
200 epochs x 10,000 images) at each rate. Figures: BENCHMARKS.md, "Lock-step".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from benchmark import STUDY_TRAINING, TRAIN_FLOP_PER_IMAGE, bench_peak, say, spawn_pool, spread  # noqa: E402
from benchmark import training_worker as per_model_worker  # noqa: E402

from mosaicfocus.devices import set_threads  # noqa: E402
from mosaicfocus.what_network.lockstep import train_lockstep  # noqa: E402

NETWORKS = 9
FULL_RUN_IMAGES = NETWORKS * 200 * 10_000


def lockstep_worker(threads: int, epochs: int, images: int = 10_000, networks: int = NETWORKS) -> dict:
    """Train ``networks`` networks in lock-step on random data; images/s (all networks) per epoch after the first."""
    set_threads(threads)
    generator = torch.Generator().manual_seed(0)
    datasets = [
        (torch.randn(images, 3, 32, 32, generator=generator), torch.randint(0, 3, (images,), generator=generator))
        for _ in range(networks)
    ]
    stamps = []

    def on_epoch(line: str) -> None:
        if line.startswith(f"network {networks}:"):  # the last network's line ends an epoch
            stamps.append((time.perf_counter(), time.process_time()))

    stamps.append((time.perf_counter(), time.process_time()))
    train_lockstep(datasets, STUDY_TRAINING, list(range(networks)), epochs, log=on_epoch)
    work = networks * images
    return {
        "wall": [work / (b[0] - a[0]) for a, b in zip(stamps[1:], stamps[2:])],
        "cpu": [work / (b[1] - a[1]) for a, b in zip(stamps[1:], stamps[2:])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement (the first is dropped)")
    args = parser.parse_args()
    say(f"CPU: {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
    peak = bench_peak(quick=True)
    say(f"== training, 10,000 images per network, batch 256, {args.epochs} epochs, first dropped")
    rates = {}

    def line(name: str, result: dict, peak_gflops: float) -> None:
        best = max(result["wall"])
        rates[name] = best
        share = 100 * best * TRAIN_FLOP_PER_IMAGE / 1e9 / peak_gflops
        say(
            f"  {name}: {spread(result['wall'])} images/s ({share:.0f}% of peak; CPU-time rate {spread(result['cpu'])})"
            f"; full run's training at this rate: {FULL_RUN_IMAGES / best / 60:.1f} min"
        )

    with spawn_pool(2) as pool:
        pair = list(pool.map(per_model_worker, [1, 1], [args.epochs, args.epochs]))
    line(
        "per-model: two 1-thread jobs side by side (sum)",
        {key: [a + b for a, b in zip(pair[0][key], pair[1][key])] for key in ("wall", "cpu")},
        2 * peak[1],
    )
    for threads in (1, 2):
        with spawn_pool(1) as pool:
            result = pool.submit(lockstep_worker, threads, args.epochs).result()
        line(f"lock-step: one {threads}-thread job, {NETWORKS} networks", result, peak[threads])
    per_model = rates["per-model: two 1-thread jobs side by side (sum)"]
    lockstep = rates[f"lock-step: one 2-thread job, {NETWORKS} networks"]
    say(f"  => per-model / lock-step (2 cores each): {per_model / lockstep:.2f}x")


if __name__ == "__main__":
    main()
