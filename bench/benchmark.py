"""One command for the speed figures of BENCHMARKS.md.

    .venv/bin/python bench/benchmark.py --quick      # about two minutes
    .venv/bin/python bench/benchmark.py              # the full set, about six minutes

It prints the machine's float32 matmul peak (1 and 2 threads), training
images/s with the share of that peak (one 1-thread job, one 2-thread job, two
1-thread jobs side by side as `snakemake --cores 2` runs them), scoring
images/s (1 thread, row-phased and direct), the data stage
at the real size (mosaics and ten datasets), the time to read the JPEG folder,
the time of a no-op `snakemake -n`, and the workflow's code against the
notebook-style baseline of bench/notebook_baseline.py on one reduced workload.

CPU time is printed next to wall time: on a shared machine the wall figures
move with the load of other processes, the CPU figures much less.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from cifar_copy import HELP, cifar_folder  # noqa: E402

from mosaicfocus.artifacts import load_artifact, save_artifact  # noqa: E402
from mosaicfocus.data.datasets import FOCUS_LEVELS, focus_dataset, foregrounds  # noqa: E402
from mosaicfocus.data.mosaics import draw_mosaics  # noqa: E402
from mosaicfocus.data.sources import load_imagefolder, make_synthetic  # noqa: E402
from mosaicfocus.devices import set_threads  # noqa: E402
from mosaicfocus.what_network.evaluation import accuracy, predict  # noqa: E402
from mosaicfocus.what_network.model import Module2  # noqa: E402
from mosaicfocus.what_network.training import TrainConfig, train_model  # noqa: E402

DEFAULT_CIFAR = Path(__file__).resolve().parents[1] / "data" / "cifar10"  # where the README extracts it
# The study's training settings (config.yaml's train block; restarts do not change a step's cost).
STUDY_TRAINING = TrainConfig(lr=0.01, momentum=0.9, batch_size=256, outputs=3, restarts=0)
FOREGROUND, BACKGROUND = [0, 1, 2], [3, 4, 5, 6, 7, 8, 9]

# Multiply-accumulates of one Module2 forward pass (the layer sizes of docs/protocol.md).
CONV1_MACS = 28 * 28 * 6 * 3 * 25
FORWARD_MACS = CONV1_MACS + 10 * 10 * 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10 + 10 * 3
# Backward costs two forwards per layer (input and weight gradients), except conv1,
# whose input (the images) needs no gradient.
TRAIN_FLOP_PER_IMAGE = 2 * (FORWARD_MACS + 2 * FORWARD_MACS - CONV1_MACS)


def say(line: str = "") -> None:
    print(line, flush=True)


def spread(values: list[float]) -> str:
    return f"best {max(values):,.0f}, median {statistics.median(values):,.0f}"


def matmul_gflops(threads: int, size: int, repeats: int) -> float:
    """Best float32 GFLOP/s of a square matmul: the machine's practical peak."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def training_worker(threads: int, epochs: int, images: int = 10_000, phased: bool | None = None) -> dict:
    """Train Module2 on random data in this process; images/s per epoch after the first.

    ``phased=False`` trains the direct form of conv1 and its pooling (before the
    phased form of ``mosaicfocus.what_network.fast.phases`` became the CPU default)."""
    set_threads(threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(images, 3, 32, 32, generator=generator)
    y = torch.randint(0, 3, (images,), generator=generator)
    stamps = []

    def on_epoch(_line: str) -> None:
        stamps.append((time.perf_counter(), time.process_time()))

    stamps.append((time.perf_counter(), time.process_time()))
    train_model(x, y, STUDY_TRAINING, 1, epochs, log=on_epoch, phased=phased)
    wall = [images / (b[0] - a[0]) for a, b in zip(stamps[1:], stamps[2:])]
    cpu = [images / (b[1] - a[1]) for a, b in zip(stamps[1:], stamps[2:])]
    return {"wall": wall, "cpu": cpu}


def spawn_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # Fresh interpreters: a forked child would inherit the parent's OpenMP pool.
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def bench_peak(quick: bool) -> dict[int, float]:
    say("== float32 matmul peak (torch.mm, best of repeats)")
    peak = {}
    for threads in (1, 2):
        peak[threads] = max(matmul_gflops(threads, 1024, 10 if quick else 30) for _ in range(3))
        say(f"  {threads} thread(s): {peak[threads]:,.1f} GFLOP/s")
    return peak


def bench_training(peak: dict[int, float], quick: bool) -> None:
    epochs = 3 if quick else 6
    say(f"== training Module2 (10,000 images, batch 256, {epochs} epochs; first epoch dropped)")
    say(f"  work per image: {TRAIN_FLOP_PER_IMAGE / 1e6:.2f} MFLOP (forward + backward)")

    def line(name: str, rates: list[float], cpu: list[float], peak_gflops: float) -> None:
        share = 100 * max(rates) * TRAIN_FLOP_PER_IMAGE / 1e9 / peak_gflops
        say(f"  {name}: {spread(rates)} images/s ({share:.0f}% of peak; CPU-time rate {spread(cpu)})")

    with spawn_pool(1) as pool:
        for threads in (1, 2):
            result = pool.submit(training_worker, threads, epochs).result()
            line(f"one {threads}-thread job", result["wall"], result["cpu"], peak[threads])
        result = pool.submit(training_worker, 1, epochs, 10_000, False).result()
        line("one 1-thread job, direct conv1 (not phased)", result["wall"], result["cpu"], peak[1])
    with spawn_pool(2) as pool:
        results = list(pool.map(training_worker, [1, 1], [epochs, epochs]))
    pair = [a + b for a, b in zip(results[0]["wall"], results[1]["wall"])]
    pair_cpu = [a + b for a, b in zip(results[0]["cpu"], results[1]["cpu"])]
    # Two 1-thread processes can at best run at two 1-thread peaks.
    line("two 1-thread jobs side by side (sum)", pair, pair_cpu, 2 * peak[1])
    steps = 9 * 200 * 10_000
    say(f"  => 9 models x 200 epochs x 10,000 images at the side-by-side best: {steps / max(pair) / 60:.1f} min")


def scoring_worker(images: int = 10_000) -> dict[str, float]:
    """Score random images with an untrained Module2 on one thread: images/s (CPU time), each form."""
    set_threads(1)
    x = torch.randn(images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model = Module2(3)
    rates: dict[str, list[float]] = {"row-phased": [], "direct": []}
    for _ in range(3):
        for name, phased in (("row-phased", True), ("direct", False)):
            start = time.process_time()
            predict(model, x, phased=phased)
            rates[name].append(images / (time.process_time() - start))
    return {name: max(values) for name, values in rates.items()}


def bench_scoring() -> None:
    with spawn_pool(1) as pool:
        rates = pool.submit(scoring_worker).result()
    say("== scoring Module2 (10,000 images, batch 500, 1 thread; CPU-time rate, best of 3)")
    say(f"  row-phased (the CPU default): {rates['row-phased']:,.0f} images/s; direct: {rates['direct']:,.0f} images/s")


def source_images(cifar: Path | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    if cifar and cifar.exists():
        with cifar_folder(cifar) as folder:  # an archive is extracted first, untimed
            start = time.perf_counter()
            images, labels, _ = load_imagefolder(folder, "train", workers=2)
            seconds = time.perf_counter() - start
        say(f"== JPEG folder read ({images.shape[0]:,} images, 2 threads): {seconds:.1f} s (target <= 30 s)")
        return images, labels, "real CIFAR-10"
    say(f"== JPEG folder read: skipped, nothing at {cifar} (use --cifar ARCHIVE_OR_FOLDER)")
    images, labels, _ = make_synthetic(5000, seed=0)
    return images, labels, "synthetic stand-in"


def bench_data_stage(images: torch.Tensor, labels: torch.Tensor, origin: str, scratch: Path) -> None:
    say(f"== data stage at the real size (20,000 mosaics, ten datasets of 10,000; {origin}; 2 threads)")
    set_threads(2)
    start = time.perf_counter()
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, 20_000, seed=2024)
    save_artifact(scratch / "source_images.pt", "source", {"images": images, "labels": labels})
    save_artifact(scratch / "mosaics.pt", "mosaics", drawn)
    mosaics_s = time.perf_counter() - start
    start = time.perf_counter()
    source, _ = load_artifact(scratch / "source_images.pt", "source")
    loaded, _ = load_artifact(scratch / "mosaics.pt", "mosaics")
    images, index, position = source["images"], loaded["source_index"], loaded["foreground_position"]
    half = index.shape[0] // 2
    for level in FOCUS_LEVELS:
        blended = focus_dataset(images, index[:half], position[:half], level)
        save_artifact(scratch / f"dataset_{level}.pt", "dataset", {"images": blended})
    save_artifact(scratch / "dataset_10.pt", "dataset", {"images": foregrounds(images, index[half:], position[half:])})
    datasets_s = time.perf_counter() - start
    total = mosaics_s + datasets_s
    say(f"  mosaics (draw, save): {mosaics_s:.1f} s; ten datasets (load, gather and blend, save): {datasets_s:.1f} s")
    say(f"  together: {total:.1f} s (target <= 15 s)")


def bench_noop_dry_run(scratch: Path) -> None:
    say("== no-op `snakemake -n` on a finished run (tests/config/tiny.yaml, 2 epochs)")
    command = [
        str(REPO / ".venv" / "bin" / "snakemake"),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(scratch),
        "--configfile", str(REPO / "tests" / "config" / "tiny.yaml"),
        "--config", "train={epochs: 2}",
        "--cores", "2",
    ]  # fmt: skip
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"the tiny run failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
    say(f"  finishing the tiny run first: {time.perf_counter() - start:.0f} s")
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        result = subprocess.run(command + ["-n"], check=True, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout + result.stderr
    say(f"  {min(seconds):.2f} s best, {statistics.median(seconds):.2f} s median of 5 (target <= 3 s)")


# The ten datasets of the side-by-side run; forked model jobs inherit them.
_DATASETS: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def workflow_train_job(focus: int, epochs: int, seed: int) -> dict[str, torch.Tensor]:
    """What a train job does for one focus level, in a 1-thread process: the weights."""
    set_threads(1)
    state, _ = train_model(*_DATASETS[focus], STUDY_TRAINING, seed + focus, epochs)
    return state


def workflow_evaluate_job(state: dict[str, torch.Tensor]) -> dict[int, float]:
    """What an evaluate job does: score one model on the ten datasets, 1 thread."""
    set_threads(1)
    model = Module2(3)
    model.load_state_dict(state)
    return {j: accuracy(predict(model, x), y)["accuracy"] for j, (x, y) in _DATASETS.items()}


def workflow_experiment(images, labels, count: int, epochs: int, seed: int) -> dict:
    """The reduced experiment with the workflow's functions and its job structure.

    Nine train jobs and nine evaluate jobs on two 1-thread worker processes, each
    evaluation submitted when its model's training ends: what `snakemake --cores 2`
    does with the train and evaluate rules. The workers are forked, as the
    baseline runs in one process: both sides then measure the work, not
    interpreter start-up (a spawned worker costs ~2 s importing torch; Snakemake
    pays that once per job, on a workload where each job trains for minutes).
    """
    set_threads(2)
    drawn = draw_mosaics(labels, FOREGROUND, BACKGROUND, count, seed)
    half = count // 2
    index, position, label = drawn["source_index"], drawn["foreground_position"], drawn["label"]
    _DATASETS.clear()
    for level in FOCUS_LEVELS:
        _DATASETS[level] = (focus_dataset(images, index[:half], position[:half], level), label[:half])
    _DATASETS[10] = (foregrounds(images, index[half:], position[half:]), label[half:])
    # 1-thread children: they never enter the parent's OpenMP team, so forking is safe.
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        training = {pool.submit(workflow_train_job, focus, epochs, seed): focus for focus in FOCUS_LEVELS}
        scoring = {}
        for trained in concurrent.futures.as_completed(training):
            scoring[training[trained]] = pool.submit(workflow_evaluate_job, trained.result())
        return {(i, j): acc for i in FOCUS_LEVELS for j, acc in scoring[i].result().items()}


def bench_side_by_side(images, labels, quick: bool) -> None:
    import notebook_baseline

    # Training-dominated, like the real experiment (there 20 training image-steps per
    # scored image; here 8 and 7.5), so that the figure speaks for it.
    count, epochs = (1000, 8) if quick else (2000, 15)
    say(f"== side by side: {count:,} mosaics, 9 models x {epochs} epochs on {count // 2:,} images, 90 scores")
    images_hwc = images.permute(0, 2, 3, 1).numpy()
    set_threads(2)
    start, cpu = time.perf_counter(), time.process_time()
    baseline = notebook_baseline.run_experiment(images_hwc, labels.tolist(), count, epochs, seed=1)
    baseline_s, baseline_cpu = time.perf_counter() - start, time.process_time() - cpu
    say(f"  notebook baseline (float64, per-sample DataLoader, Python loops, 2 threads): {baseline_s:.1f} s")
    start, cpu = time.perf_counter(), time.process_time()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = workflow_experiment(images, labels, count, epochs, seed=1)
    ours_s = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours_cpu = (
        time.process_time()
        - cpu
        + sum(getattr(children, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
    )
    say(f"  workflow code (float32, tensor batches, 9 train + 9 evaluate jobs on two 1-thread workers): {ours_s:.1f} s")
    say(f"  speed-up end to end: {baseline_s / ours_s:.1f}x wall (target >= 10x)")
    # Under load the baseline's 2-thread OpenMP stalls; CPU time is the load-proof comparison.
    say(f"  CPU time: baseline {baseline_cpu:.0f} s, workflow code {ours_cpu:.1f} s: {baseline_cpu / ours_cpu:.1f}x")
    for name, matrix in (("baseline", baseline), ("workflow", ours)):
        diagonal = np.mean([matrix[i, i] for i in FOCUS_LEVELS])
        held_out = np.mean([matrix[i, 10] for i in FOCUS_LEVELS])
        say(f"  {name}: mean accuracy trained=tested {diagonal:.1f}%, on dataset 10 {held_out:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and a smaller side-by-side workload")
    parser.add_argument(
        "--cifar", type=Path, default=DEFAULT_CIFAR, help=HELP + f"; default {DEFAULT_CIFAR}, skipped when absent"
    )
    parser.add_argument("--skip-snakemake", action="store_true", help="leave out the no-op dry run")
    args = parser.parse_args()
    load = os.getloadavg()
    say(
        f"mosaicfocus benchmark ({'quick' if args.quick else 'full'}), torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    say(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mosaicfocus-bench-") as tmp:
        scratch = Path(tmp)
        for sub in ("data", "snakemake"):
            (scratch / sub).mkdir()
        peak = bench_peak(args.quick)
        bench_training(peak, args.quick)
        bench_scoring()
        images, labels, origin = source_images(args.cifar)
        bench_data_stage(images, labels, origin, scratch / "data")
        if not args.skip_snakemake:
            bench_noop_dry_run(scratch / "snakemake")
        bench_side_by_side(images, labels, args.quick)
    load = os.getloadavg()
    took = time.perf_counter() - started
    say(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; benchmark took {took:.0f} s")


if __name__ == "__main__":
    main()
