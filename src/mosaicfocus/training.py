"""Training one "what" network on one focus dataset (PROTOCOL.md, "Training")."""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .model import build_model
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


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 256
    epochs: int = 200
    num_classes: int = 3


def train_model(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    seed: int,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda line: None,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train Module2 with SGD; return its ``state_dict`` (on CPU) and the mean loss of each epoch.

    Everything random (initialisation, the shuffle of every epoch) comes from
    ``seed``. The data stays one tensor on the device; each batch is an index
    into it, so no per-sample Python runs.
    """
    device = torch.device(device)
    reuse_freed_memory()
    model = build_model(config.num_classes, derive_seed(seed, "init")).to(device)
    model = model.to(memory_format=torch.channels_last)
    # foreach: one kernel per step for all ten tensors instead of a Python loop over
    # them; bit-identical to the default single-tensor SGD (fused=True is not).
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, foreach=True)
    loss_fn = nn.CrossEntropyLoss()
    x_all = images.to(device).contiguous(memory_format=torch.channels_last)
    y_all = labels.to(device)
    n = x_all.shape[0]
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    losses: list[float] = []
    model.train()
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_all[batch]), y_all[batch])
            loss.backward()
            optimizer.step()
            total += loss.detach().to(torch.float64) * batch.numel()
        mean_loss = float(total) / n
        losses.append(mean_loss)
        seconds = time.perf_counter() - started
        log(f"epoch {epoch}/{config.epochs} loss {mean_loss:.6f} ({n / seconds:,.0f} images/s)")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return state, losses
