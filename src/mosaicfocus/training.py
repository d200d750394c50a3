"""Training one "what" network on one focus dataset (PROTOCOL.md, "Training")."""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from .health import death_reason, is_dead
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
    # Re-initialisations allowed after the network dies (health.is_dead);
    # 0 is the study's protocol: one initialisation, whatever becomes of it.
    restarts: int = 0


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of one attempt at training a model: attempt 1 keeps the model's own seed."""
    return seed if attempt == 1 else derive_seed(seed, "attempt", attempt)


@dataclass
class TrainingState:
    """Where training stands after ``epoch`` epochs of attempt ``attempt``: enough to go on bit for bit.

    The model's ``state_dict``, SGD's momentum buffers (by parameter name), the
    state of the shuffle generator, the mean loss and the number of fc3 units
    active on some image, of every epoch so far, and the attempts abandoned
    before this one (a dict each: attempt, seed, epoch, reason, losses, alive).
    """

    epoch: int
    model: dict[str, torch.Tensor]
    momentum: dict[str, torch.Tensor]
    shuffle: torch.Tensor
    losses: list[float]
    alive: list[int] = field(default_factory=list)
    attempt: int = 1
    abandoned: list[dict] = field(default_factory=list)

    def to_artifact(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Flat tensors and JSON-able metadata for ``artifacts.save_artifact``."""
        tensors = {f"model.{k}": v for k, v in self.model.items()}
        tensors.update({f"momentum.{k}": v for k, v in self.momentum.items()})
        tensors["shuffle"] = self.shuffle
        tensors["losses"] = torch.tensor(self.losses, dtype=torch.float64)
        tensors["alive"] = torch.tensor(self.alive, dtype=torch.int64)
        return tensors, {"epoch": self.epoch, "attempt": self.attempt, "abandoned": self.abandoned}

    @classmethod
    def from_artifact(cls, tensors: dict[str, torch.Tensor], meta: dict) -> "TrainingState":
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        return cls(
            epoch=meta["epoch"],
            model=part("model."),
            momentum=part("momentum."),
            shuffle=tensors["shuffle"],
            losses=tensors["losses"].tolist(),
            alive=tensors["alive"].tolist(),
            attempt=meta["attempt"],
            abandoned=list(meta["abandoned"]),
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
    ``attempt_seed(seed, attempt)``; resuming from a saved state gives the same
    bits as never stopping. A network that dies (no fc3 unit active on any
    image of a whole epoch) is abandoned and trained again from epoch 1 with
    the next attempt's seed, at most ``config.restarts`` times; the abandoned
    attempts stay on record in the returned state. The data stays one tensor on
    the device; each batch is an index into it, so no per-sample Python runs.
    ``phased`` (default: on the CPU) computes conv1 and its pooling in row
    phases (``phases``): the same function, faster on CPUs, equal to the direct
    form up to float32 rounding.
    """
    until = config.epochs if until is None else until
    first = 1 if resume is None else resume.epoch + 1
    if not 1 <= first <= until <= config.epochs:
        raise ValueError(f"cannot train epochs {first}..{until} of {config.epochs}")
    device = torch.device(device)
    reuse_freed_memory()
    if phased is None:
        phased = device.type == "cpu"
    x_all = images.to(device)
    x_all = to_row_phases(x_all) if phased else x_all.contiguous(memory_format=torch.channels_last)
    y_all = labels.to(device)
    n, channels, height, width = x_all.shape
    # Channels-last images as rows of one matrix (a view): index_select of whole rows
    # gathers a batch in half the time of indexing the 4-D tensor.
    rows = x_all.permute(0, 2, 3, 1).reshape(n, -1)
    loss_fn = nn.CrossEntropyLoss()

    if resume is None:
        state = _fresh_state(seed, attempt=1)
    else:  # the caller's state stays as it was
        state = replace(resume, losses=list(resume.losses), alive=list(resume.alive))
    while state.epoch < until:
        model = build_model(config.num_classes, derive_seed(attempt_seed(seed, state.attempt), "init"))
        if state.model:
            model.load_state_dict(state.model)
        model = model.to(device).to(memory_format=torch.channels_last)
        names = [name for name, _ in model.named_parameters()]
        optimizer = MomentumSGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        if state.momentum:
            optimizer.buffers = [state.momentum[name].to(device).clone() for name in names]
        forward = PhasedModule2(model) if phased else model
        shuffle = torch.Generator().manual_seed(derive_seed(attempt_seed(seed, state.attempt), "shuffle"))
        if state.shuffle.numel():
            shuffle.set_state(state.shuffle)
        model.train()
        died = False
        for epoch in range(state.epoch + 1, until + 1):
            started = time.perf_counter()
            order = torch.randperm(n, generator=shuffle).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            # Largest activation of each fc3 unit over the epoch: > 0 means the unit was
            # active on some image, so gradients still reach the layers below it.
            peak = torch.zeros(model.fc3.out_features, device=device)
            for start in range(0, n, config.batch_size):
                batch = order[start : start + config.batch_size]
                optimizer.zero_grad()
                images_batch = rows.index_select(0, batch).view(-1, height, width, channels).permute(0, 3, 1, 2)
                hidden = forward.features(images_batch)
                loss = loss_fn(model.fc4(hidden), y_all[batch])
                loss.backward()
                optimizer.step()
                total += loss.detach().to(torch.float64) * batch.numel()
                torch.maximum(peak, hidden.detach().amax(0), out=peak)
            state.losses.append(float(total) / n)
            state.alive.append(int((peak > 0).sum()))
            seconds = time.perf_counter() - started
            log(
                f"epoch {epoch}/{config.epochs} loss {state.losses[-1]:.6f} fc3 units active {state.alive[-1]}"
                f"/{peak.numel()} ({n / seconds:,.0f} images/s)"
                + (f" [attempt {state.attempt}]" if state.attempt > 1 else "")
            )
            if is_dead(state.losses[-1], state.alive[-1]) and state.attempt <= config.restarts:
                died = True
                break
        if died:
            reason = death_reason(state.losses[-1], epoch)
            log(f"attempt {state.attempt} (seed {attempt_seed(seed, state.attempt)}) abandoned at epoch {epoch}, {reason}")
            state = _fresh_state(seed, state.attempt + 1, abandoned=state.abandoned + [_abandoned(state, seed, reason)])
            log(f"attempt {state.attempt}: re-initialised with seed {attempt_seed(seed, state.attempt)}, from epoch 1")
            continue
        state = TrainingState(
            epoch=until,
            model={k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
            momentum={
                name: buffer.detach().to("cpu").contiguous()
                for name, buffer in zip(names, optimizer.buffers)
                if buffer is not None
            },
            shuffle=shuffle.get_state(),
            losses=state.losses,
            alive=state.alive,
            attempt=state.attempt,
            abandoned=state.abandoned,
        )
    return state


def _fresh_state(seed: int, attempt: int, abandoned: list[dict] | None = None) -> TrainingState:
    """Attempt ``attempt`` before its first epoch (model and generator made from its seed)."""
    return TrainingState(
        epoch=0, model={}, momentum={}, shuffle=torch.empty(0), losses=[], alive=[], attempt=attempt,
        abandoned=list(abandoned or []),
    )


def _abandoned(state: TrainingState, seed: int, reason: str) -> dict:
    return {
        "attempt": state.attempt,
        "seed": attempt_seed(seed, state.attempt),
        "epoch": len(state.losses),
        "reason": reason,
        "losses": list(state.losses),
        "alive": list(state.alive),
    }
