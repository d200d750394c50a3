"""Training one "what" network on one focus dataset (docs/protocol.md, "Training").

SGD with momentum on cross-entropy, a fixed number of epochs, reshuffled every
epoch; everything random comes from one seed per attempt. While it trains, the
network's health is watched (``health``): a network that dies is restarted from
epoch 1 with the next attempt's seed, at most ``restarts`` times, and the
abandoned attempts stay on record. With ``stop_loss`` a network stops after the
first epoch whose loss by the authors' rule (``stoprule``) is at most it, once that
epoch has passed the health check; with ``dtype`` float64 the network and its
data are float64 and the direct form runs (the row phases are float32 only).
How a step is computed fast is ``fast``'s business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from mosaicfocus.seeds import derive_seed
from mosaicfocus.what_network import fast
from mosaicfocus.what_network.health import death_reason, is_dead
from mosaicfocus.what_network.model import build_model
from mosaicfocus.what_network.stoprule import epoch_running_loss, stops

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class TrainConfig:
    """What the weights depend on besides the data, the seed and the epochs
    (defaults and meaning: workflow/schemas/config.schema.yaml, ``train``)."""

    lr: float
    momentum: float
    batch_size: int
    outputs: int
    restarts: int  # re-initialisations allowed after the network dies (health.is_dead); 0: the study's protocol
    dtype: str = "float32"  # of the weights, the data and the arithmetic; float64: the authors'
    stop_loss: float | None = None  # stop after the first epoch whose loss by the authors' rule is <= it

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of one attempt at training a model: attempt 1 keeps the model's own seed."""
    return seed if attempt == 1 else derive_seed(seed, "attempt", attempt)


@dataclass
class TrainingState:
    """Where training stands after ``epoch`` epochs of attempt ``attempt``: enough to go on bit for bit.

    The model's ``state_dict``, SGD's momentum buffers (by parameter name), the
    state of the shuffle generator, the mean loss and the number of fc3 units
    active on some image, of every epoch so far, and the attempts abandoned
    before this one (a dict each: attempt, seed, epoch, reason, losses, fc3_units_active).

    With a stop rule, ``running_losses`` holds every epoch's loss by the authors' rule
    (``stoprule``) and ``stopped_at`` the epoch training stopped after, or None. A stopped
    state keeps that epoch's weights and losses while ``epoch`` goes on with the schedule
    (the later jobs of a chunked training carry it unchanged).
    """

    epoch: int
    model: dict[str, torch.Tensor]
    momentum: dict[str, torch.Tensor]
    shuffle: torch.Tensor
    losses: list[float]
    fc3_units_active: list[int] = field(default_factory=list)
    attempt: int = 1
    abandoned: list[dict] = field(default_factory=list)
    running_losses: list[float] = field(default_factory=list)
    stopped_at: int | None = None

    def to_artifact(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Flat tensors and JSON-able metadata for ``artifacts.save_artifact``."""
        tensors = {f"model.{k}": v for k, v in self.model.items()}
        tensors.update({f"momentum.{k}": v for k, v in self.momentum.items()})
        tensors["shuffle"] = self.shuffle
        tensors["losses"] = torch.tensor(self.losses, dtype=torch.float64)
        tensors["fc3_units_active"] = torch.tensor(self.fc3_units_active, dtype=torch.int64)
        meta = {"epoch": self.epoch, "attempt": self.attempt, "abandoned": self.abandoned}
        if self.running_losses or self.stopped_at is not None:  # only with a stop rule: other states stay as they were
            tensors["running_losses"] = torch.tensor(self.running_losses, dtype=torch.float64)
            meta["stopped_at"] = self.stopped_at
        return tensors, meta

    @classmethod
    def from_artifact(cls, tensors: dict[str, torch.Tensor], meta: dict) -> TrainingState:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        # A state saved before the count had its name calls it "alive": it still resumes.
        units = tensors["fc3_units_active"] if "fc3_units_active" in tensors else tensors["alive"]
        abandoned = [{"fc3_units_active" if k == "alive" else k: v for k, v in a.items()} for a in meta["abandoned"]]
        return cls(
            epoch=meta["epoch"],
            model=part("model."),
            momentum=part("momentum."),
            shuffle=tensors["shuffle"],
            losses=tensors["losses"].tolist(),
            fc3_units_active=units.tolist(),
            attempt=meta["attempt"],
            abandoned=abandoned,
            running_losses=tensors["running_losses"].tolist() if "running_losses" in tensors else [],
            stopped_at=meta.get("stopped_at"),
        )


def train_model(images, labels, config: TrainConfig, seed: int, epochs: int, **options):
    """Train Module2 from scratch for ``epochs`` epochs; return its ``state_dict`` and every epoch's mean loss."""
    state = train_epochs(images, labels, config, seed, epochs, **options)
    return state.model, state.losses


def train_epochs(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    seed: int,
    until: int,
    resume: TrainingState | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda line: None,
    phased: bool | None = None,
) -> TrainingState:
    """Train from scratch, or on from ``resume``, to the end of epoch ``until``.

    Resuming from a saved state gives the same bits as never stopping. A network
    found dead at the end of an epoch is abandoned while restarts are left, and
    the next attempt trains from epoch 1 to ``until``. With ``config.stop_loss``
    a live network stops after the first epoch whose loss by the authors' rule is
    at most it; a state that stopped earlier is carried to ``until`` unchanged.
    float64 (``config.dtype``) runs the direct form: ``phased`` must not ask for row phases.
    """
    start = 0 if resume is None else resume.epoch
    if not 0 <= start < until:
        raise ValueError(f"cannot train epochs {start + 1}..{until}")
    if resume is not None and resume.stopped_at is not None:
        log(f"training stopped after epoch {resume.stopped_at} (train.stop_loss): epochs {start + 1}..{until} carry it")
        return replace(_copy(resume), epoch=until)
    device = torch.device(device)
    dtype = config.torch_dtype
    if dtype != torch.float32:
        if phased:
            raise ValueError(f"row phases are float32 only; train {config.dtype} with phased=False")
        phased = False
    fast.reuse_freed_memory()
    batches = fast.Batches(images.to(dtype), device, phased)
    labels = labels.to(device)
    state = _fresh_state(attempt=1) if resume is None else _copy(resume)  # the caller's state stays as it was
    while state.epoch < until:
        model, optimizer, shuffle = _restore(state, config, attempt_seed(seed, state.attempt), device)
        features = fast.features_of(model, device, batches.phased)
        model.train()
        for epoch in range(state.epoch + 1, until + 1):
            started = time.perf_counter()
            order = torch.randperm(len(batches), generator=shuffle).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            # Largest output of each fc3 unit over the epoch: > 0 means the unit was active
            # on some image, so gradients still reach the layers below it.
            peak = torch.zeros(model.fc3.out_features, dtype=dtype, device=device)
            batch_losses = [] if config.stop_loss is not None else None  # kept on the device until the epoch's end
            for batch in order.split(config.batch_size):
                optimizer.zero_grad()
                hidden = features(batches[batch])
                loss = F.cross_entropy(model.fc4(hidden), labels[batch])
                loss.backward()
                optimizer.step()
                total += loss.detach().to(torch.float64) * batch.numel()
                torch.maximum(peak, hidden.detach().amax(0), out=peak)
                if batch_losses is not None:
                    batch_losses.append(loss.detach())
            state.losses.append(float(total) / len(batches))
            state.fc3_units_active.append(int((peak > 0).sum()))
            state.epoch = epoch
            log(
                f"epoch {epoch} loss {state.losses[-1]:.6f}, "
                f"fc3 units active {state.fc3_units_active[-1]}/{peak.numel()}"
                f" ({len(batches) / (time.perf_counter() - started):,.0f} images/s)"
                + (f" [attempt {state.attempt}]" if state.attempt > 1 else "")
            )
            dead = is_dead(state.losses[-1], state.fc3_units_active[-1])
            if dead and state.attempt <= config.restarts:
                state = _abandon(state, attempt_seed(seed, state.attempt), attempt_seed(seed, state.attempt + 1), log)
                break
            if batch_losses is not None and _stopped(state, torch.stack(batch_losses).tolist(), config, dead, log):
                state = _snapshot(replace(state, epoch=until), model, optimizer, shuffle)
                break
        else:
            state = _snapshot(state, model, optimizer, shuffle)
    return state


def _stopped(state: TrainingState, batch_losses: list[float], config: TrainConfig, dead: bool, log) -> bool:
    """Record the epoch's loss by the authors' rule; whether training stops after it. A stop
    counts only in an epoch that passed the health check (a dead network is restarted, or
    kept to the end when no restart is left, as without the rule)."""
    state.running_losses.append(epoch_running_loss(batch_losses))
    if dead or not stops(state.running_losses[-1], config.stop_loss):
        return False
    state.stopped_at = state.epoch
    log(
        f"stopped after epoch {state.epoch}: loss by the authors' rule {state.running_losses[-1]:.6g} "
        f"<= train.stop_loss {config.stop_loss}"
    )
    return True


def _copy(state: TrainingState) -> TrainingState:
    """``state`` with its own lists (the caller's state stays as it was)."""
    return replace(
        state,
        losses=list(state.losses),
        fc3_units_active=list(state.fc3_units_active),
        running_losses=list(state.running_losses),
    )


def _abandon(state: TrainingState, seed: int, next_seed: int, log: Callable[[str], None]) -> TrainingState:
    """Put the dead attempt on record; the next attempt starts before its first epoch."""
    reason = death_reason(state.losses[-1], state.epoch)
    log(f"attempt {state.attempt} (seed {seed}) abandoned at epoch {state.epoch}, {reason}")
    abandoned = {"attempt": state.attempt, "seed": seed, "epoch": state.epoch, "reason": reason}
    abandoned.update(losses=state.losses, fc3_units_active=state.fc3_units_active)
    log(f"attempt {state.attempt + 1}: re-initialised with seed {next_seed}, from epoch 1")
    return _fresh_state(state.attempt + 1, state.abandoned + [abandoned])


def _fresh_state(attempt: int, abandoned: list[dict] | None = None) -> TrainingState:
    """Attempt ``attempt`` before its first epoch: model and generator come from its seed."""
    return TrainingState(
        epoch=0,
        model={},
        momentum={},
        shuffle=torch.empty(0),
        losses=[],
        fc3_units_active=[],
        attempt=attempt,
        abandoned=list(abandoned or []),
    )


def _restore(state: TrainingState, config: TrainConfig, seed: int, device: torch.device, model=None):
    """Model, optimizer and shuffle generator where ``state`` left them (fresh ones at epoch 0);
    ``model``: the network initialised from ``seed`` (Module2 unless given; attention's joint model)."""
    model = restored_model(state, config, seed, model).to(device).to(memory_format=torch.channels_last)
    optimizer = fast.MomentumSGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    if state.momentum:
        # empty_like keeps each parameter's strides (channels_last): the foreach kernels of
        # the optimizer stay on their fused path only when parameters and buffers agree.
        optimizer.buffers = [
            torch.empty_like(param).copy_(state.momentum[name]) for name, param in model.named_parameters()
        ]
    return model, optimizer, restored_shuffle(state, seed)


def restored_model(state: TrainingState, config: TrainConfig, seed: int, model=None):
    """The attempt's network as ``state`` left it, on the CPU: drawn from ``seed`` at epoch 0
    (``model``, when given, is that draw: attention's joint model)."""
    model = build_model(config.outputs, derive_seed(seed, "init")) if model is None else model
    # The initial weights are drawn in float32 and converted, as the authors' Module2().double() did.
    model = model.to(config.torch_dtype)
    if state.model:
        model.load_state_dict(state.model)
    return model


def restored_shuffle(state: TrainingState, seed: int) -> torch.Generator:
    """The attempt's shuffle generator as ``state`` left it: seeded from ``seed`` at epoch 0."""
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    if state.shuffle.numel():
        shuffle.set_state(state.shuffle)
    return shuffle


def _snapshot(state: TrainingState, model, optimizer, shuffle) -> TrainingState:
    """``state`` with the model, momentum and generator as they are now (on the CPU)."""
    names = [name for name, _ in model.named_parameters()]
    return replace(
        state,
        model={k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
        momentum={n: b.detach().to("cpu").contiguous() for n, b in zip(names, optimizer.buffers) if b is not None},
        shuffle=shuffle.get_state(),
    )
