"""The "where" network: a focus network that learns which tile to look at
(Pandey, Vashisht, Ramaswamy, "On the Interpretability of Attention Networks", ACML 2022).

The focus network scores each of a mosaic's nine tiles; a softmax turns the
nine scores into weights, the alphas; the what network (Module2) classifies the
alpha-weighted average of the tiles, in normalised pixels (``x = u/127.5 - 1``,
as ``datasets``). Both are trained together, from scratch, on cross-entropy
with SGD and momentum, on the training-half mosaics (those of datasets 1..9).
The focus network is the study's LeNet with one output: Module2's layers, fc4
10 -> 1. It is shared over the nine tiles, which it sees as one batch of 9 B.

Focus is judged per mosaic: the focus is true when the largest alpha is the
foreground tile's (ties: the first tile, as ``argmax``), the prediction true
when the logits' argmax is the label, which gives four counts, FTPT, FFPT, FTPF
and FFPF (focus true/false, prediction true/false); and the mean alpha on the
foreground tile (9 x it is the effective focus level: 1 for uniform alphas, 9
for perfect focus), the share of mosaics whose largest alpha is at least 0.5,
and the entropy of the alphas in bits (log2 9 uniform, 0 one-hot). They come out
of the training step's own alphas and logits (``focus_sums``), no extra pass.

Training health is the what network's (``health``): the fc3 units active per
epoch, and a dead attempt is restarted with the next attempt's seed, as for the
nine what networks. The speed machinery (tiles gathered and normalised per
mini-batch from the uint8 source images, row phases) is ``fast``'s;
``attend`` is the same function on plain tensors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from mosaicfocus.data.datasets import blend, normalize
from mosaicfocus.data.design import TILES
from mosaicfocus.data.mosaics import gather_tiles
from mosaicfocus.seeds import derive_seed
from mosaicfocus.what_network import fast, training
from mosaicfocus.what_network.health import is_dead
from mosaicfocus.what_network.model import Module2
from mosaicfocus.what_network.training import TrainConfig, TrainingState, attempt_seed


class FocusNetwork(Module2):
    """The where network: the study's LeNet with one output, a score per tile."""

    def __init__(self):
        super().__init__(outputs=1)


class AttentionModel(nn.Module):
    """The focus network (``where``) and the what network (``what``, Module2), trained jointly."""

    def __init__(self, where: FocusNetwork, what: Module2):
        super().__init__()
        self.where = where
        self.what = what


def build_attention_model(outputs: int, seed: int) -> AttentionModel:
    """Default PyTorch initialisation of each network from its own seed, the global RNG untouched."""

    def seeded(name, make):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "init", name))
            return make()

    return AttentionModel(seeded("where", FocusNetwork), seeded("what", lambda: Module2(outputs)))


def normalized_tiles(images: torch.Tensor, source_index: torch.Tensor) -> torch.Tensor:
    """The normalised tiles [n, 9, C, H, W] of the mosaics ``source_index`` [n, 9] into uint8 ``images``."""
    return normalize(gather_tiles(images, source_index))


def attend(model: AttentionModel, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The alphas [B, 9] and logits [B, outputs] of mosaics given as normalised tiles [B, 9, C, H, W]."""
    scores = model.where(tiles.flatten(0, 1)).view(-1, TILES)
    alphas = torch.softmax(scores, dim=1)
    average = torch.einsum("bk,bkchw->bchw", alphas, tiles)
    return alphas, model.what(average)


# ---- focus metrics ---------------------------------------------------------------------------------

SUMS = ("loss", "correct", "ftpt", "ffpt", "ftpf", "ffpf", "foreground_alpha", "max_alpha_at_least_half", "entropy")
COUNTS = ("ftpt", "ffpt", "ftpf", "ffpf")


def focus_sums(
    alphas: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, foreground_position: torch.Tensor
) -> torch.Tensor:
    """Sums over a batch of mosaics, float64 [len(SUMS)]: cross-entropy, correct predictions, the
    four focus counts, foreground alpha, mosaics whose largest alpha is >= 0.5, entropy in bits."""
    alphas, logits = alphas.detach(), logits.detach()
    correct = logits.argmax(1) == labels
    focused = alphas.argmax(1) == foreground_position
    weights = alphas.to(torch.float64)
    entropy = -torch.special.xlogy(weights, weights).sum(1) / math.log(2)
    parts = [
        F.cross_entropy(logits, labels, reduction="sum"),
        correct.sum(),
        (focused & correct).sum(),
        (~focused & correct).sum(),
        (focused & ~correct).sum(),
        (~focused & ~correct).sum(),
        weights.gather(1, foreground_position.view(-1, 1)).sum(),
        (alphas.amax(1) >= 0.5).sum(),
        entropy.sum(),
    ]
    return torch.stack([part.to(torch.float64) for part in parts])


def focus_summary(sums: torch.Tensor, mosaics: int) -> dict:
    """Means of ``focus_sums`` over ``mosaics`` mosaics: loss, accuracy and the four counts in % of
    mosaics, mean foreground alpha, the effective focus level (9 x it), the % of mosaics whose
    largest alpha is >= 0.5, mean entropy of the alphas in bits."""
    mean = dict(zip(SUMS, (float(value) / mosaics for value in sums.cpu())))
    return {
        "mosaics": mosaics,
        "loss": mean["loss"],
        "accuracy": 100 * mean["correct"],
        **{count: 100 * mean[count] for count in COUNTS},
        "foreground_alpha": mean["foreground_alpha"],
        "effective_focus": TILES * mean["foreground_alpha"],
        "max_alpha_at_least_half": 100 * mean["max_alpha_at_least_half"],
        "entropy_bits": mean["entropy"],
    }


# ---- training --------------------------------------------------------------------------------------


@dataclass
class AttentionState(TrainingState):
    """``TrainingState`` of the joint model (``model`` holds ``where.*`` and ``what.*``; ``fc3_units_active``
    counts the what network's fc3 units), plus every epoch's focus summary on the training mosaics
    (``focus_summary`` and ``where_fc3_units_active``). Abandoned attempts keep theirs too."""

    focus: list[dict] = field(default_factory=list)

    def to_artifact(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, meta = super().to_artifact()
        return tensors, {**meta, "focus": self.focus}

    @classmethod
    def from_artifact(cls, tensors: dict[str, torch.Tensor], meta: dict) -> AttentionState:
        base = TrainingState.from_artifact(tensors, meta)
        return cls(**{f.name: getattr(base, f.name) for f in fields(base)}, focus=list(meta["focus"]))


def forward(model: AttentionModel, where_features, what_features, tiles: fast.MosaicTiles, batch: torch.Tensor):
    """``attend`` on the mosaics ``batch`` in ``fast``'s layout: the alphas, the what network's fc3
    features (fc4 of them are the logits) and the focus network's (for its health)."""
    x = tiles[batch]
    where_hidden = where_features(x)
    alphas = torch.softmax(model.where.fc4(where_hidden).view(-1, TILES), dim=1)
    return alphas, what_features(tiles.average(alphas, x)), where_hidden


def train_attention(
    images: torch.Tensor,
    mosaics: dict[str, torch.Tensor],
    config: TrainConfig,
    seed: int,
    until: int,
    resume: AttentionState | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = lambda line: None,
    phased: bool | None = None,
    after_epoch: Callable[[AttentionState, AttentionModel], None] | None = None,
) -> AttentionState:
    """Train the focus and what networks together from scratch, or on from ``resume``, to the end
    of epoch ``until``, on ``mosaics`` (``source_index``, ``foreground_position``, ``label``) of
    the uint8 source ``images``. Bit for bit the same whether resumed or not; a what network found
    dead at the end of an epoch is abandoned while restarts are left. ``after_epoch(state, model)``
    sees every epoch's end (the trajectory); it must leave the model as it is.
    """
    start = 0 if resume is None else resume.epoch
    if not 0 <= start < until:
        raise ValueError(f"cannot train epochs {start + 1}..{until}")
    device = torch.device(device)
    fast.reuse_freed_memory()
    tiles = fast.mosaic_tiles(images, mosaics["source_index"], device, phased)
    labels = mosaics["label"].to(device)
    foreground = mosaics["foreground_position"].to(device)
    if resume is None:
        state = AttentionState(epoch=0, model={}, momentum={}, shuffle=torch.empty(0), losses=[])
    else:  # the caller's state stays as it was
        state = replace(
            resume, losses=list(resume.losses), fc3_units_active=list(resume.fc3_units_active), focus=list(resume.focus)
        )
    while state.epoch < until:
        model, optimizer, shuffle = _restore(state, config, attempt_seed(seed, state.attempt), device)
        where_features = fast.features_of(model.where, device, tiles.phased)
        what_features = fast.features_of(model.what, device, tiles.phased)
        for epoch in range(state.epoch + 1, until + 1):
            started = time.perf_counter()
            order = torch.randperm(len(tiles), generator=shuffle).to(device)
            sums = torch.zeros(len(SUMS), dtype=torch.float64, device=device)
            # Largest output of each fc3 unit over the epoch (> 0: active on some image), both networks.
            what_peak = torch.zeros(model.what.fc3.out_features, device=device)
            where_peak = torch.zeros(model.where.fc3.out_features, device=device)
            for batch in order.split(config.batch_size):
                optimizer.zero_grad()
                alphas, hidden, where_hidden = forward(model, where_features, what_features, tiles, batch)
                logits = model.what.fc4(hidden)
                loss = F.cross_entropy(logits, labels[batch])
                loss.backward()
                optimizer.step()
                sums += focus_sums(alphas, logits, labels[batch], foreground[batch])
                torch.maximum(what_peak, hidden.detach().amax(0), out=what_peak)
                torch.maximum(where_peak, where_hidden.detach().amax(0), out=where_peak)
            summary = focus_summary(sums, len(tiles))
            summary["where_fc3_units_active"] = int((where_peak > 0).sum())
            state.losses.append(summary["loss"])
            state.fc3_units_active.append(int((what_peak > 0).sum()))
            state.focus.append(summary)
            state.epoch = epoch
            log(
                f"epoch {epoch} loss {summary['loss']:.6f}, accuracy {summary['accuracy']:.2f}%, "
                f"effective focus {summary['effective_focus']:.3f}, FTPT {summary['ftpt']:.2f}%, "
                f"entropy {summary['entropy_bits']:.3f} bits, fc3 units active: what {state.fc3_units_active[-1]}/"
                f"{what_peak.numel()}, where {summary['where_fc3_units_active']}/{where_peak.numel()}"
                f" ({len(tiles) / (time.perf_counter() - started):,.0f} mosaics/s)"
                + (f" [attempt {state.attempt}]" if state.attempt > 1 else "")
            )
            if after_epoch is not None:
                after_epoch(state, model)
            if is_dead(state.losses[-1], state.fc3_units_active[-1]) and state.attempt <= config.restarts:
                state = _abandon(state, attempt_seed(seed, state.attempt), attempt_seed(seed, state.attempt + 1), log)
                break
        else:
            names = [name for name, _ in model.named_parameters()]
            state = replace(
                state,
                model={k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
                momentum={
                    n: b.detach().to("cpu").contiguous() for n, b in zip(names, optimizer.buffers) if b is not None
                },
                shuffle=shuffle.get_state(),
            )
    return state


def _abandon(state: AttentionState, seed: int, next_seed: int, log: Callable[[str], None]) -> AttentionState:
    """``training._abandon`` (the dead attempt on record, the next one before its first epoch),
    the abandoned attempt's focus summaries kept with it."""
    fresh = training._abandon(state, seed, next_seed, log)
    fresh.abandoned[-1]["focus"] = state.focus
    return AttentionState(**{f.name: getattr(fresh, f.name) for f in fields(fresh)})


def _restore(state: AttentionState, config: TrainConfig, seed: int, device: torch.device):
    """``training._restore`` of the joint model initialised from ``seed``."""
    return training._restore(state, config, seed, device, model=build_attention_model(config.outputs, seed))


# ---- scoring and the learned-focus blend -----------------------------------------------------------


@torch.inference_mode()
def score_mosaics(
    model: AttentionModel,
    images: torch.Tensor,
    mosaics: dict[str, torch.Tensor],
    batch_size: int = 500,
    phased: bool | None = None,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The trained model on ``mosaics``: their ``focus_summary`` and, per mosaic, the focus
    network's ``scores`` [n, 9] (float32), the ``alphas`` and the what network's ``predicted`` class."""
    device = next(model.parameters()).device
    tiles = fast.mosaic_tiles(images, mosaics["source_index"], device, phased)
    where_features = fast.features_of(model.where, device, tiles.phased)
    what_features = fast.features_of(model.what, device, tiles.phased)
    labels = mosaics["label"].to(device)
    foreground = mosaics["foreground_position"].to(device)
    sums = torch.zeros(len(SUMS), dtype=torch.float64, device=device)
    out = {
        "scores": torch.empty(len(tiles), TILES),
        "alphas": torch.empty(len(tiles), TILES),
        "predicted": torch.empty(len(tiles), dtype=torch.int64),
    }
    for batch in torch.arange(len(tiles), device=device).split(batch_size):
        x = tiles[batch]
        scores = model.where.fc4(where_features(x)).view(-1, TILES)
        alphas = torch.softmax(scores, dim=1)
        logits = model.what.fc4(what_features(tiles.average(alphas, x)))
        sums += focus_sums(alphas, logits, labels[batch], foreground[batch])
        rows = batch.cpu()
        out["scores"][rows], out["alphas"][rows] = scores.cpu(), alphas.cpu()
        out["predicted"][rows] = logits.argmax(1).cpu()
    return focus_summary(sums, len(tiles)), out


def learned_focus_weights(scores: torch.Tensor) -> torch.Tensor:
    """The alphas of the focus network's scores [n, 9], in float64.

    A float64 softmax gives equal scores exactly the float64 1/9 and scores that single one
    tile out by more than ~745 exactly 1 and 0; the float32 softmax's 1/9 is 7e-9 off, which
    would move most blended pixels by an ulp (tests/test_attention.py).
    """
    return torch.softmax(scores.to(torch.float64), dim=1)


def learned_focus_blend(images: torch.Tensor, source_index: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """The mosaics blended with the alphas of the focus network's ``scores``: float32 [n, C, H, W].

    ``datasets.blend`` in float64 from the uint8 tiles, rounded once to float32. One-hot alphas
    give the normalised foreground (dataset 10) bit for bit: products with 1 and 0 and sums of
    integers are exact. Uniform alphas give dataset 1 bit for bit: the float64 blend is within
    ~1e-15 of the exact (sum of the nine u)/1147.5 - 1, a fraction with denominator 2295, which is
    at least 1/(2295 * 2^36) ~ 6e-15 away from any float32 rounding boundary in [-1, 1], so it
    rounds to the same float32 as dataset 1's exact integer blend does.
    """
    return blend(images, source_index, learned_focus_weights(scores))
