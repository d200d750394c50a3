"""The GPU path, checked and timed on one GPU in one go (under 3 minutes on an H200).

    python bench/gpu_check.py --cifar ../shared/data/cifar10-jpg.tar.gz

Prints, in order:
1. versions and numerics (devices.device_record after devices.prepare_device): full float32 and
   deterministic kernels in force, or FAIL;
2. 2 epochs of one network on the GPU against the CPU's direct form: max weight difference within
   ``drift_bound`` (the reasoning is beside it), or FAIL;
3. two identical lock-step runs on the GPU, compared bit for bit (FAIL if not);
4. a lock-step run resumed after epoch 1 against one that never stopped, bit for bit (FAIL if not);
5. one lock-step epoch under ``torch.cuda.set_sync_debug_mode("error")``: FAIL on a host sync;
6. ms per step: the per-model loop, the lock-step trainer, the lock-step step replayed as a CUDA graph;
7. the default experiment's model work (datasets built from the archive first, untimed): nine
   networks x 200 epochs in lock-step plus the 90 scores, in this process;
8. the where network (where_network.attention), one epoch on random mosaics: the GPU against the
   CPU's direct form within ``drift_bound``, and two GPU runs bit for bit (FAIL otherwise).

Each check prints a PASS or FAIL line; the script exits 1 when any check failed. Every part but
the CUDA graph and the real-data timing also runs on the CPU, small (``--quick``), in the test
suite (tests/test_gpu_check.py) and in the device runner's rehearsal (bench/device/runner.py).
Figures: BENCHMARKS.md, "GPU".
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402
from cifar_copy import HELP, cifar_folder  # noqa: E402

from mosaicfocus.devices import cuda_numerics, device_record, prepare_device  # noqa: E402
from mosaicfocus.what_network import fast  # noqa: E402
from mosaicfocus.what_network.evaluation import accuracy, predict  # noqa: E402
from mosaicfocus.what_network.lockstep import lockstep_epoch, lockstep_step, train_lockstep  # noqa: E402
from mosaicfocus.what_network.model import Module2, build_model  # noqa: E402
from mosaicfocus.what_network.training import TrainConfig, train_epochs  # noqa: E402
from mosaicfocus.where_network.attention import train_attention  # noqa: E402

STUDY = TrainConfig(lr=0.01, momentum=0.9, batch_size=256, outputs=3, restarts=3)
NETWORKS = 9

# ---- How far apart two float32 trainings may end: the bound of checks 2 and 8 ---------------------
#
# The GPU and the CPU run the same float32 arithmetic in different summation orders (cuDNN's and
# cuBLAS's blocked reductions against oneDNN's), so every gradient entry of a step differs by
# rounding. A sum of K terms in blocks of sqrt(K) (pairwise and tiled reductions do no worse) errs by
# at most about 2 sqrt(K) u, u = 2^-24, relative to its terms, on either side: two orders differ by at
# most eps = 4 sqrt(K) u per step, K the longest sum of the step, conv1's weight gradient, one
# product per output pixel of the batch (K = 256 x 28 x 28 = 200,704 for the what network:
# eps = 1.1e-4; nine tiles per mosaic for the where network, K = 1,806,336: eps = 3.2e-4). We take
# eps relative to the gradient entry itself: where its terms cancel, one entry can err more, but
# not the training as a whole (the CPU's own two orders, below, end far inside the bound).
# SGD with momentum carries each gradient into later steps with total weight lr / (1 - momentum)
# (0.1 here), so over T steps the weights drift apart by at most T * lr / (1 - momentum) * eps * G,
# G the largest gradient entry, as long as training does not amplify a perturbation. On the CPU,
# the checks' own random data (seed 0): G = 0.215 over the what network's 80 steps (2 epochs of
# 10,000 images) and 0.176 over the where network's 20 (one epoch of 5,120 mosaics), taken as 0.25
# and 0.2. No amplification either: noise of 1e-4 relative injected into every gradient entry of
# every step moved the weights by 4.9e-5 (what, 80 steps) and 2.6e-6 (where, 20 steps), under what
# the formula gives for it (1.7e-4 and 3.5e-5): both stay on the ln 3 plateau of random labels.
# The bounds come out as 2.1e-4 (what) and 1.3e-4 (where); the CPU's two summation orders (row
# phases against the direct form) end 3.3e-7 and 1.8e-7 apart on the same data, 600 times inside.
# A GPU beyond the bound computes another function: TF32 (inputs rounded to 10 bits, 2^-11
# relative), a nondeterministic or a wrong kernel.
FLOAT32_ROUNDOFF = 2.0**-24
LARGEST_GRADIENT = {"what": 0.25, "where": 0.2}


def drift_bound(steps: int, config: TrainConfig, longest_sum: int, largest_gradient: float) -> float:
    """The largest weight difference two float32 trainings of ``steps`` steps may show (above)."""
    per_step = 4 * math.sqrt(longest_sum) * FLOAT32_ROUNDOFF
    return steps * config.lr / (1 - config.momentum) * per_step * largest_gradient


def training_steps(examples: int, epochs: int, batch_size: int = STUDY.batch_size) -> int:
    return epochs * -(-examples // batch_size)


def conv1_gradient_sum(batch_size: int = STUDY.batch_size, tiles: int = 1) -> int:
    """Terms in conv1's weight gradient: one per 28 x 28 output pixel of each image (tile) of a batch."""
    return tiles * batch_size * 28 * 28


CRASHED = object()


class Verdicts:
    """PASS/FAIL lines, and the names of the checks that failed."""

    def __init__(self, say=print):
        self.say, self.passed, self.failed = say, [], []

    def check(self, name: str, ok: bool, detail: str) -> bool:
        (self.passed if ok else self.failed).append(name)
        self.say(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        return ok

    def attempt(self, name: str, function, *args, **kwargs):
        """``function(*args, **kwargs)``, or ``CRASHED`` after a FAIL line naming what it raised: one
        part's crash must not cost the parts after it."""
        try:
            return function(*args, **kwargs)
        except Exception as error:
            self.check(name, False, f"raised {type(error).__name__}: {' '.join(str(error).split())[:300]}")
            return CRASHED

    def within(self, name: str, value: float, bound: float, detail: str) -> bool:
        """``value <= bound`` (NaN fails)."""
        return self.check(name, math.isfinite(value) and value <= bound, f"{detail} {value:.3g} (bound {bound:.2g})")

    def exit_code(self) -> int:
        total = len(self.passed) + len(self.failed)
        if self.failed:
            self.say(f"gpu_check: FAIL: {len(self.failed)} of {total} checks failed: {', '.join(self.failed)}")
            return 1
        self.say(f"gpu_check: PASS: all {total} checks passed")
        return 0


def numerics_problems(numerics: dict) -> list[str]:
    """How CUDA's numerics (devices.cuda_numerics) differ from full float32 with deterministic kernels."""
    wanted = {
        "matmul_fp32_precision": "ieee",
        "conv_fp32_precision": "ieee",
        "matmul_allow_tf32": False,
        "cudnn_allow_tf32": False,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "deterministic_algorithms": True,
    }
    problems = [f"{k} is {numerics[k]!r}, not {v!r}" for k, v in wanted.items() if k in numerics and numerics[k] != v]
    if not numerics.get("cublas_workspace_config"):
        problems.append("CUBLAS_WORKSPACE_CONFIG is not set")
    return problems


def random_datasets(networks: int, images: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(images, 3, 32, 32, generator=generator), torch.randint(0, 3, (images,), generator=generator))
        for _ in range(networks)
    ]


def same_bits(a: list, b: list) -> bool:
    return all(
        torch.equal(x.model[name], y.model[name]) and x.losses == y.losses for x, y in zip(a, b) for name in x.model
    )


def against_cpu(device, dataset, epochs: int = 2) -> float:
    """Largest weight difference between one network trained on ``device`` and on the CPU (direct form)."""
    x, y = dataset
    here = train_epochs(x, y, STUDY, 1, epochs, device=device)
    cpu = train_epochs(x, y, STUDY, 1, epochs, device="cpu", phased=False)
    return max((here.model[k] - cpu.model[k]).abs().max().item() for k in cpu.model)


def repeatable(device, datasets, epochs: int = 2) -> bool:
    seeds = list(range(len(datasets)))
    return same_bits(
        train_lockstep(datasets, STUDY, seeds, epochs, device=device),
        train_lockstep(datasets, STUDY, seeds, epochs, device=device),
    )


def resumable(device, datasets, epochs: int = 2) -> bool:
    seeds = list(range(len(datasets)))
    first = train_lockstep(datasets, STUDY, seeds, 1, device=device)
    return same_bits(
        train_lockstep(datasets, STUDY, seeds, epochs, resume=first, device=device),
        train_lockstep(datasets, STUDY, seeds, epochs, device=device),
    )


def random_mosaics(images: int, mosaics: int, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """uint8 source images and ``mosaics`` mosaics of nine of them, foreground tile and label drawn at random."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=generator), {
        "source_index": torch.randint(0, images, (mosaics, 9), generator=generator),
        "foreground_position": torch.randint(0, 9, (mosaics,), generator=generator),
        "label": torch.randint(0, STUDY.outputs, (mosaics,), generator=generator),
    }


def attention_against_cpu(device, images, mosaics, epochs: int = 1) -> float:
    """Largest weight difference of the joint where/what model trained on ``device`` and on the CPU (direct form)."""
    here = train_attention(images, mosaics, STUDY, 1, epochs, device=device)
    cpu = train_attention(images, mosaics, STUDY, 1, epochs, device="cpu", phased=False)
    return max((here.model[k] - cpu.model[k]).abs().max().item() for k in cpu.model)


def attention_repeatable(device, images, mosaics, epochs: int = 1) -> bool:
    """Two trainings of the joint model on ``device``: the same weights, losses and focus summaries, bit for bit."""
    a, b = (train_attention(images, mosaics, STUDY, 1, epochs, device=device) for _ in range(2))
    same_weights = a.model.keys() == b.model.keys() and all(torch.equal(a.model[k], b.model[k]) for k in a.model)
    return same_weights and a.losses == b.losses and a.focus == b.focus


def lockstep_setup(device, datasets):
    model = fast.StackedModule2([build_model(STUDY.outputs, k) for k in range(len(datasets))]).to(device)
    optimizer = fast.StackedMomentumSGD(model.parameters(), lr=STUDY.lr, momentum=STUDY.momentum)
    batches = fast.StackedBatches([x for x, _ in datasets], device)
    labels = torch.stack([y for _, y in datasets]).to(device)
    return model, optimizer, batches, labels


def epoch_without_sync(device, datasets, guard=None) -> bool:
    """One lock-step epoch inside ``guard`` (a context that fails on a device-to-host sync);
    on CUDA, ``set_sync_debug_mode("error")``."""
    model, optimizer, batches, labels = lockstep_setup(device, datasets)
    orders = torch.stack([torch.randperm(len(batches)) for _ in datasets]).to(device)
    if guard is None:
        guard = _cuda_sync_errors() if torch.device(device).type == "cuda" else contextlib.nullcontext()
    with guard:
        lockstep_epoch(model, optimizer, batches, labels, orders, STUDY.batch_size)
    return True


def sync_found(device, datasets, guard=None) -> str | None:
    """What ``epoch_without_sync`` raised (the sync it met), or None for an epoch without one."""
    try:
        epoch_without_sync(device, datasets, guard)
    except RuntimeError as error:
        return " ".join(str(error).split())[:300]
    return None


@contextlib.contextmanager
def _cuda_sync_errors():
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def ms_per_step(device, datasets, steps: int = 60) -> dict[str, float]:
    """Wall ms per optimizer step: one network's loop (train_epochs' step), the lock-step step, and
    (CUDA) the lock-step step as a replayed CUDA graph. Full batches only, after warm-up steps."""
    batch = STUDY.batch_size
    times = {}
    x, y = datasets[0]
    model = build_model(STUDY.outputs, 0).to(device).to(memory_format=torch.channels_last)
    optimizer = fast.MomentumSGD(model.parameters(), lr=STUDY.lr, momentum=STUDY.momentum)
    single = fast.Batches(x, device)
    features = fast.features_of(model, device, single.phased)
    labels0 = y.to(device)
    index = torch.randperm(len(single))[:batch].to(device)

    def single_step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.fc4(features(single[index])), labels0[index])
        loss.backward()
        optimizer.step()

    times["per-model loop, one network"] = _time(single_step, steps, device)
    stacked, stacked_optimizer, batches, labels = lockstep_setup(device, datasets)
    order = torch.stack([torch.randperm(len(batches))[:batch] for _ in datasets]).to(device)
    times[f"lock-step, {len(datasets)} networks"] = _time(
        lambda: lockstep_step(stacked, stacked_optimizer, batches[order], labels.gather(1, order)), steps, device
    )
    if torch.device(device).type == "cuda":
        replay = _graphed_lockstep_step(stacked, stacked_optimizer, batches, labels, order)
        times[f"lock-step as a CUDA graph, {len(datasets)} networks"] = _time(replay, steps, device)
    return times


def _time(step, steps: int, device) -> float:
    for _ in range(5):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    return 1000 * (time.perf_counter() - start) / steps


def _graphed_lockstep_step(model, optimizer, batches, labels, order):
    """The lock-step step captured once (static index buffer, gradients allocated in the graph's pool)."""
    static_order = order.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the default stream, as capture requires
        for _ in range(3):
            lockstep_step(model, optimizer, batches[static_order], labels.gather(1, static_order))
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad()
    with torch.cuda.graph(graph):
        lockstep_step(model, optimizer, batches[static_order], labels.gather(1, static_order))
    return graph.replay


def real_datasets(folder: Path):
    """The default experiment's ten datasets from the CIFAR-10 folder (20,000 mosaics, seed 2024)."""
    from mosaicfocus.data.datasets import focus_dataset, foregrounds
    from mosaicfocus.data.mosaics import draw_mosaics
    from mosaicfocus.data.sources import load_imagefolder

    images, labels, _ = load_imagefolder(folder, "train", workers=8)
    drawn = draw_mosaics(labels, [0, 1, 2], [3, 4, 5, 6, 7, 8, 9], 20_000, seed=2024)
    index, position, label = drawn["source_index"], drawn["foreground_position"], drawn["label"]
    half = index.shape[0] // 2
    datasets = [(focus_dataset(images, index[:half], position[:half], level), label[:half]) for level in range(1, 10)]
    datasets.append((foregrounds(images, index[half:], position[half:]), label[half:]))
    return datasets


def experiment_seconds(device, datasets, epochs: int = 200) -> tuple[float, float, list[float]]:
    """Nine networks x ``epochs`` in lock-step, then every network on every dataset: (train s, score s, diagonal %)."""
    _synchronize(device)
    start = time.perf_counter()
    states = train_lockstep(datasets[:NETWORKS], STUDY, list(range(NETWORKS)), epochs, device=device)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    models = []
    for state in states:
        model = Module2(STUDY.outputs)
        model.load_state_dict(state.model)
        models.append(model.to(device))
    diagonal = []
    for j, (images, labels) in enumerate(datasets):
        for i, model in enumerate(models):
            score = accuracy(predict(model, images), labels)["accuracy"]
            if i == j:
                diagonal.append(score)
    return trained, time.perf_counter() - start, diagonal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, help=HELP + "; for part 7")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="CPU-sized data (2 networks of 64 images, 32 mosaics)")
    args = parser.parse_args()
    device = prepare_device(args.device)
    say = lambda line: print(line, flush=True)  # noqa: E731
    verdicts = Verdicts(say)
    say(f"1. {device_record(device)}")
    if device.type == "cuda":
        problems = numerics_problems(cuda_numerics())
        verdicts.check("1. numerics", not problems, "; ".join(problems) or "full float32, deterministic kernels")
    networks, images, epochs = (2, 64, 1) if args.quick else (NETWORKS, 10_000, 2)
    data = random_datasets(networks, images)
    name = "2. what network against the CPU"
    difference = verdicts.attempt(name, against_cpu, device, data[0], epochs)
    if difference is not CRASHED:
        verdicts.within(
            name,
            difference,
            drift_bound(training_steps(images, epochs), STUDY, conv1_gradient_sum(), LARGEST_GRADIENT["what"]),
            f"one network, {epochs} epoch(s), {device} against the CPU's direct form: max |weight difference|",
        )
    small = [(x[:2560], y[:2560]) for x, y in data]
    for name, check, detail in (
        ("3. lock-step repeat", repeatable, "two lock-step runs (2 epochs) bit for bit"),
        ("4. lock-step resume", resumable, "resumed after epoch 1 equals never stopping"),
    ):
        same = verdicts.attempt(name, check, device, small)
        if same is not CRASHED:
            verdicts.check(name, same, detail)
    sync = verdicts.attempt("5. no host sync", sync_found, device, data)
    if sync is not CRASHED:
        verdicts.check("5. no host sync", sync is None, sync or "one lock-step epoch met no device-to-host sync")
    times = verdicts.attempt("6. step timings", ms_per_step, device, data, steps=2 if args.quick else 60)
    for name, ms in {} if times is CRASHED else times.items():
        say(f"6. {name}: {ms:.3f} ms per step")
    if args.cifar:
        start = time.perf_counter()
        with cifar_folder(args.cifar) as folder:
            datasets = real_datasets(folder)
            say(f"7. datasets built in {time.perf_counter() - start:.1f} s (not counted below)")
            trained, scored, diagonal = experiment_seconds(device, datasets)
            say(f"7. nine networks x 200 epochs in lock-step: {trained:.1f} s; 90 scores: {scored:.1f} s")
            say(f"   diagonal accuracies (%): {[round(d, 1) for d in diagonal]}")
    sources, mosaics = random_mosaics(100, 32) if args.quick else random_mosaics(2000, 5120)
    count = mosaics["label"].numel()
    name = "8. where network against the CPU"
    difference = verdicts.attempt(name, attention_against_cpu, device, sources, mosaics)
    if difference is not CRASHED:
        verdicts.within(
            name,
            difference,
            drift_bound(training_steps(count, 1), STUDY, conv1_gradient_sum(tiles=9), LARGEST_GRADIENT["where"]),
            f"one epoch of {count} mosaics, {device} against the CPU's direct form: max |weight difference|",
        )
    repeat = verdicts.attempt("8. where network repeat", attention_repeatable, device, sources, mosaics)
    if repeat is not CRASHED:
        verdicts.check("8. where network repeat", repeat, f"two runs of one epoch on {device} bit for bit")
    sys.exit(verdicts.exit_code())


if __name__ == "__main__":
    main()
