"""The GPU path, checked and timed on one GPU in one go (under 3 minutes on an H200).

    python bench/gpu_check.py --cifar ../shared/data/cifar10-jpg.tar.gz

Prints, in order:
1. versions and numerics (devices.device_record after devices.prepare_device);
2. 2 epochs of one network on the GPU against the CPU's direct form (max weight difference);
3. two identical lock-step runs on the GPU, compared bit for bit;
4. a lock-step run resumed after epoch 1 against one that never stopped, bit for bit;
5. one lock-step epoch under ``torch.cuda.set_sync_debug_mode("error")``;
6. ms per step: the per-model loop, the lock-step trainer, the lock-step step replayed as a CUDA graph;
7. the default experiment's model work (datasets built from the archive first, untimed): nine
   networks x 200 epochs in lock-step plus the 90 scores, in this process.

Every part but the CUDA graph and the real-data timing also runs on the CPU,
small, in the test suite (tests/test_gpu_check.py). Figures: BENCHMARKS.md, "GPU".
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402
from cifar_copy import HELP, cifar_folder  # noqa: E402

from mosaicfocus.devices import device_record, prepare_device  # noqa: E402
from mosaicfocus.what_network import fast  # noqa: E402
from mosaicfocus.what_network.evaluation import accuracy, predict  # noqa: E402
from mosaicfocus.what_network.lockstep import lockstep_epoch, lockstep_step, train_lockstep  # noqa: E402
from mosaicfocus.what_network.model import Module2, build_model  # noqa: E402
from mosaicfocus.what_network.training import TrainConfig, train_epochs  # noqa: E402

STUDY = TrainConfig(lr=0.01, momentum=0.9, batch_size=256, outputs=3, restarts=3)
NETWORKS = 9


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
    args = parser.parse_args()
    device = prepare_device(args.device)
    say = lambda line: print(line, flush=True)  # noqa: E731
    say(f"1. {device_record(device)}")
    data = random_datasets(NETWORKS, 10_000)
    difference = against_cpu(device, data[0])
    say(f"2. one network, 2 epochs, {device} against the CPU's direct form: max |weight difference| {difference:.3g}")
    small = [(x[:2560], y[:2560]) for x, y in data]
    say(f"3. two identical lock-step runs (2 epochs) bit for bit: {repeatable(device, small)}")
    say(f"4. lock-step resumed after epoch 1 equals never stopping, bit for bit: {resumable(device, small)}")
    say(f"5. one lock-step epoch with sync debug mode 'error': {epoch_without_sync(device, data)}")
    for name, ms in ms_per_step(device, data).items():
        say(f"6. {name}: {ms:.3f} ms per step")
    if args.cifar:
        start = time.perf_counter()
        with cifar_folder(args.cifar) as folder:
            datasets = real_datasets(folder)
            say(f"7. datasets built in {time.perf_counter() - start:.1f} s (not counted below)")
            trained, scored, diagonal = experiment_seconds(device, datasets)
            say(f"7. nine networks x 200 epochs in lock-step: {trained:.1f} s; 90 scores: {scored:.1f} s")
            say(f"   diagonal accuracies (%): {[round(d, 1) for d in diagonal]}")


if __name__ == "__main__":
    main()
