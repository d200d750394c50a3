"""The nine what networks of a replicate trained together, in lock-step (the GPU path).

Each network is trained exactly as ``training.train_epochs`` trains it alone:
its own dataset, its own seed, initial weights and shuffle order drawn the same
way, the same health watch and restarts, the same saved state. Only the
arithmetic is shared: one step computes every network's step in the same
kernels (``fast.StackedModule2``). The initial weights, batch orders and attempt
seeds are the single trainer's bit for bit; the weights after training agree
with it up to float32 rounding (grouped convolutions sum in another order).

No step waits for the device: losses and fc3 activity are accumulated on it and
read once per epoch, where the health rule needs them.

A network restarted after dying trains from epoch 1 again while the others go
on; once the others have reached the last epoch they are held as they are
while the restarted one catches up (their parameters and momentum are put back
after each such epoch, so their bits never depend on another network's fate).
A network stopped by ``train.stop_loss`` (``training``'s rule, read at the same
once-per-epoch wait) is held the same way from then on. With ``train.dtype``
float64 the networks, their data and their arithmetic are float64.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.what_network import fast
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.health import is_dead
from mosaicfocus.what_network.training import (
    TrainConfig,
    TrainingState,
    _abandon,
    _copy,
    _fresh_state,
    _stopped,
    attempt_seed,
    restored_model,
    restored_shuffle,
)


def train_lockstep(
    datasets: Sequence[tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig,
    seeds: Sequence[int],
    until: int,
    resume: Sequence[TrainingState] | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda line: None,
) -> list[TrainingState]:
    """Train network k on ``datasets[k]`` (images, labels) with ``seeds[k]``, all to the end of epoch ``until``.

    Returns one ``TrainingState`` per network, each what ``train_epochs`` returns
    for it alone (up to float32 rounding); resuming from saved states gives the
    same bits as never stopping.
    """
    if len(datasets) != len(seeds):
        raise ValueError(f"one seed per dataset: {len(datasets)} datasets, {len(seeds)} seeds")
    states = [_fresh_state(1) for _ in seeds] if resume is None else [_copy(s) for s in resume]
    if len(states) != len(seeds) or any(not 0 <= s.epoch < until for s in states):
        raise ValueError(f"cannot train epochs {[s.epoch + 1 for s in states]}..{until} of {len(seeds)} networks")
    device = torch.device(device)
    fast.reuse_freed_memory()
    batches = fast.StackedBatches([images.to(config.torch_dtype) for images, _ in datasets], device)
    labels = torch.stack([y for _, y in datasets]).to(device)
    seed_of = lambda k: attempt_seed(seeds[k], states[k].attempt)  # noqa: E731 (the attempt changes on restart)
    model = fast.StackedModule2([restored_model(s, config, seed_of(k)) for k, s in enumerate(states)]).to(device)
    optimizer = fast.StackedMomentumSGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    names = model.parameter_names()
    for k, state in enumerate(states):
        if state.momentum:
            for name, buffer in zip(names, optimizer.buffers):
                buffer[k].copy_(state.momentum[name])
            optimizer.fresh.discard(k)
    shuffles = [restored_shuffle(s, seed_of(k)) for k, s in enumerate(states)]

    while any(_training(s, until) for s in states):
        started = time.perf_counter()
        training = [_training(s, until) for s in states]
        orders = torch.stack(
            [
                torch.randperm(len(batches), generator=g) if t else torch.arange(len(batches))
                for g, t in zip(shuffles, training)
            ]
        )
        held = None if all(training) else _hold(model, optimizer, training)
        batch_losses = [] if config.stop_loss is not None else None
        total, peak = lockstep_epoch(
            model, optimizer, batches, labels, _to_device(orders, device), config.batch_size, batch_losses
        )
        if held is not None:
            _put_back(model, optimizer, held)
        losses = (total / len(batches)).tolist()  # the one wait for the device in an epoch
        fc3_units_active = (peak > 0).sum(1).tolist()
        if batch_losses is not None:
            batch_losses = torch.stack(batch_losses, 1).tolist()  # [networks][mini-batches]
        rate = sum(training) * len(batches) / (time.perf_counter() - started)
        for k, state in enumerate(states):
            if not training[k]:
                continue
            state.losses.append(losses[k])
            state.fc3_units_active.append(fc3_units_active[k])
            state.epoch += 1
            log(
                f"network {k + 1}: epoch {state.epoch} loss {losses[k]:.6f}, "
                f"fc3 units active {fc3_units_active[k]}/{peak.shape[1]} ({rate:,.0f} images/s, all networks)"
                + (f" [attempt {state.attempt}]" if state.attempt > 1 else "")
            )
            dead = is_dead(losses[k], fc3_units_active[k])
            if dead and state.attempt <= config.restarts:
                states[k] = _abandon(state, seed_of(k), attempt_seed(seeds[k], state.attempt + 1), log)
                fresh = restored_model(states[k], config, seed_of(k))
                model.load_network(k, fresh.state_dict())
                for buffer in optimizer.buffers:
                    buffer[k].zero_()
                optimizer.fresh.add(k)
                shuffles[k] = restored_shuffle(states[k], seed_of(k))
            elif batch_losses is not None:
                # A stopped network is held from the next epoch on, as a finished one is.
                _stopped(state, batch_losses[k], config, dead, lambda line, k=k: log(f"network {k + 1}: {line}"))
    # A stopped network goes on with the schedule, its weights those of the epoch it stopped after.
    states = [state if state.stopped_at is None else replace(state, epoch=until) for state in states]
    return [_snapshot(state, model, optimizer, shuffle, k) for k, (state, shuffle) in enumerate(zip(states, shuffles))]


def _training(state: TrainingState, until: int) -> bool:
    """Whether network's state still trains: epochs left, and not stopped by ``train.stop_loss``."""
    return state.epoch < until and state.stopped_at is None


def lockstep_epoch(model, optimizer, batches, labels, orders: torch.Tensor, batch_size: int, batch_losses=None):
    """One epoch of every network: ``orders[k]`` is network k's image order.

    Returns, on the device, each network's summed loss (float64 ``[networks]``)
    and each fc3 unit's largest output (``[networks, 10]``); appends each mini-batch's
    mean losses (``[networks]``, on the device) to ``batch_losses`` when given.
    """
    networks = orders.shape[0]
    total = torch.zeros(networks, dtype=torch.float64, device=orders.device)
    fc3_bias = model.parameter("fc3.bias")
    peak = torch.zeros(networks, fc3_bias.shape[1], dtype=fc3_bias.dtype, device=orders.device)
    for batch in orders.split(batch_size, dim=1):
        losses, hidden = lockstep_step(model, optimizer, batches[batch], labels.gather(1, batch))
        total += losses.to(torch.float64) * batch.shape[1]
        torch.maximum(peak, hidden.amax(1), out=peak)
        if batch_losses is not None:
            batch_losses.append(losses)
    return total, peak


def lockstep_step(model, optimizer, images: torch.Tensor, labels: torch.Tensor):
    """One SGD step of every network; its mean losses ``[networks]`` and fc3 features, detached."""
    optimizer.zero_grad()
    logits, hidden = model(images)
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape).mean(1)
    # Each network's loss reaches only its own parameters, with gradient 1: its own mean loss's gradient.
    losses.sum().backward()
    optimizer.step()
    return losses.detach(), hidden.detach()


def _to_device(orders: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":  # pinned, so that the copy does not make the host wait for the device
        return orders.pin_memory().to(device, non_blocking=True)
    return orders.to(device)


def _hold(model, optimizer, training: list[bool]) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor]]:
    """Copies of the parameters and momentum of the networks not training this epoch."""
    done = [k for k, t in enumerate(training) if not t]
    index = torch.tensor(done, device=optimizer.buffers[0].device)
    with torch.no_grad():
        return (
            done,
            [p.index_select(0, index) for p in model.parameters()],
            [b.index_select(0, index) for b in optimizer.buffers],
        )


@torch.no_grad()
def _put_back(model, optimizer, held) -> None:
    done, params, buffers = held
    index = torch.tensor(done, device=optimizer.buffers[0].device)
    for p, saved in zip(model.parameters(), params):
        p.index_copy_(0, index, saved)
    for b, saved in zip(optimizer.buffers, buffers):
        b.index_copy_(0, index, saved)


def _snapshot(state: TrainingState, model, optimizer, shuffle: torch.Generator, k: int) -> TrainingState:
    """Network k's state as ``training._snapshot`` saves a single network's (on the CPU)."""
    names = model.parameter_names()
    return replace(
        state,
        model={name: p.detach()[k].to("cpu").contiguous() for name, p in zip(names, model.parameters())},
        momentum={name: b[k].to("cpu").contiguous() for name, b in zip(names, optimizer.buffers)},
        shuffle=shuffle.get_state(),
    )


def score_together(models: Sequence, datasets: Sequence[tuple[str, int, str]], batch_size: int):
    """The trained networks (network k is focus level k + 1's) on every dataset, each loaded once
    for all of them: ``{(split, level, dataset): accuracy record}``, and each network's
    predictions on its own training set (split "", dataset = its level: the health record's)."""
    scores, own_predictions = {}, {}
    for split, dataset, path in datasets:
        images, labels, _ = load_dataset(path, dataset)
        for level, model in enumerate(models, 1):
            predictions = predict(model, images, batch_size)
            scores[split, level, dataset] = accuracy(predictions, labels)
            if not split and dataset == level:
                own_predictions[level] = predictions
        del images, labels  # one dataset at a time
    return scores, own_predictions
