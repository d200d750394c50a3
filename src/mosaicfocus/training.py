"""Training one "what" network on one focus dataset (PROTOCOL.md, "Training")."""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .model import build_model
from .phases import PhasedModule2, to_row_phases
from .seeds import derive_seed


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Let glibc keep freed blocks of up to 32 MiB for reuse instead of unmapping them.

    A training step allocates and frees a few MiB-sized tensors (conv outputs,
    pooling gradients). By default glibc serves them with fresh mmaps, so every
    step page-faults and zero-fills them again: 2 ms per step for the 4.8 MB
    pooling gradient alone. Reusing the heap makes 1-thread training about 25%
    faster (BENCHMARKS.md) at the cost of up to ``trim_threshold`` bytes kept.
    Returns False where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


class MomentumSGD:
    """``torch.optim.SGD(params, lr, momentum, foreach=True)`` (no dampening, Nesterov or
    weight decay) bit for bit: the same foreach kernels in the same order.

    Written out because constructing torch.optim.SGD imports torch._dynamo, 1.5 s of
    CPU in every training job (18 of them in the default run). The test suite
    checks it against torch.optim.SGD step by step.
    """

    def __init__(self, params, lr: float, momentum: float):
        self.params = list(params)
        self.lr, self.momentum = lr, momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [param.grad for param in self.params]
        if self.momentum != 0:
            if all(buffer is not None for buffer in self.buffers):
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads, alpha=1)
            else:
                for i, grad in enumerate(grads):
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.detach().clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad, alpha=1)
            grads = self.buffers
        torch._foreach_add_(self.params, grads, alpha=-self.lr)


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 256
    epochs: int = 200
    num_classes: int = 3


@dataclass
class TrainingState:
    """Where training stands after ``epoch`` epochs: enough to go on bit for bit.

    The model's ``state_dict``, SGD's momentum buffers (by parameter name), the
    state of the shuffle generator and the mean loss of every epoch so far.
    """

    epoch: int
    model: dict[str, torch.Tensor]
    momentum: dict[str, torch.Tensor]
    shuffle: torch.Tensor
    losses: list[float]

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat tensors for ``artifacts.save_artifact``."""
        tensors = {f"model.{k}": v for k, v in self.model.items()}
        tensors.update({f"momentum.{k}": v for k, v in self.momentum.items()})
        tensors["shuffle"] = self.shuffle
        tensors["losses"] = torch.tensor(self.losses, dtype=torch.float64)
        return tensors

    @classmethod
    def from_tensors(cls, epoch: int, tensors: dict[str, torch.Tensor]) -> "TrainingState":
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        return cls(
            epoch=epoch,
            model=part("model."),
            momentum=part("momentum."),
            shuffle=tensors["shuffle"],
            losses=tensors["losses"].tolist(),
        )


def train_model(
    images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, seed: int, **options
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train Module2 from scratch (``train_epochs``'s options); return its ``state_dict`` and every epoch's mean loss."""
    state = train_epochs(images, labels, config, seed, **options)
    return state.model, state.losses


def train_epochs(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    seed: int,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda line: None,
    phased: bool | None = None,
    resume: TrainingState | None = None,
    until: int | None = None,
) -> TrainingState:
    """Train Module2 with SGD from scratch or from ``resume`` up to epoch ``until`` (default: all).

    Everything random (initialisation, the shuffle of every epoch) comes from
    ``seed``; resuming from a saved state gives the same bits as never stopping.
    The data stays one tensor on the device; each batch is an index into it, so
    no per-sample Python runs. ``phased`` (default: on the CPU) computes conv1
    and its pooling in row phases (``phases``): the same function, faster on
    CPUs, equal to the direct form up to float32 rounding.
    """
    until = config.epochs if until is None else until
    first = 1 if resume is None else resume.epoch + 1
    if not 1 <= first <= until <= config.epochs:
        raise ValueError(f"cannot train epochs {first}..{until} of {config.epochs}")
    device = torch.device(device)
    reuse_freed_memory()
    model = build_model(config.num_classes, derive_seed(seed, "init"))
    if resume is not None:
        model.load_state_dict(resume.model)
    model = model.to(device).to(memory_format=torch.channels_last)
    # foreach: one kernel per step for all ten tensors instead of a Python loop over
    # them; bit-identical to the default single-tensor SGD (fused=True is not).
    names = [name for name, _ in model.named_parameters()]
    optimizer = MomentumSGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    if resume is not None and resume.momentum:
        optimizer.buffers = [resume.momentum[name].to(device).clone() for name in names]
    loss_fn = nn.CrossEntropyLoss()
    if phased is None:
        phased = device.type == "cpu"
    forward = PhasedModule2(model) if phased else model
    x_all = images.to(device)
    x_all = to_row_phases(x_all) if phased else x_all.contiguous(memory_format=torch.channels_last)
    y_all = labels.to(device)
    n, channels, height, width = x_all.shape
    # Channels-last images as rows of one matrix (a view): index_select of whole rows
    # gathers a batch in half the time of indexing the 4-D tensor.
    rows = x_all.permute(0, 2, 3, 1).reshape(n, -1)
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    if resume is not None:
        shuffle.set_state(resume.shuffle)
    losses: list[float] = list(resume.losses) if resume is not None else []
    model.train()
    for epoch in range(first, until + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            images_batch = rows.index_select(0, batch).view(-1, height, width, channels).permute(0, 3, 1, 2)
            loss = loss_fn(forward(images_batch), y_all[batch])
            loss.backward()
            optimizer.step()
            total += loss.detach().to(torch.float64) * batch.numel()
        mean_loss = float(total) / n
        losses.append(mean_loss)
        seconds = time.perf_counter() - started
        log(f"epoch {epoch}/{config.epochs} loss {mean_loss:.6f} ({n / seconds:,.0f} images/s)")
    momentum = {
        name: buffer.detach().to("cpu").contiguous()
        for name, buffer in zip(names, optimizer.buffers)
        if buffer is not None
    }
    return TrainingState(
        epoch=until,
        model={k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
        momentum=momentum,
        shuffle=shuffle.get_state(),
        losses=losses,
    )
