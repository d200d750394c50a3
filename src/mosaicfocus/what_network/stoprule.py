"""The authors' stop rule (``train.stop_loss``), computed exactly as their notebook did.

Per epoch, their loop added each mini-batch's loss (``loss.item()``) to a running
sum and, after every tenth mini-batch (``i % 10 == 9``), appended the sum / 10 to
the epoch's list and reset it; a trailing group of fewer than ten mini-batches
was never appended. The epoch's loss was ``np.mean`` of that list, and training
stopped after the first epoch whose loss was ``<= 0.001`` (their second table's
notebook; docs/protocol.md, "Differences from the authors' runs"). On 10,000
images in mini-batches of 256 that is 40 mini-batches, four groups, the last
mini-batch (16 images) counted in the fourth group like any other.

Our loss table holds another mean: every mini-batch's loss weighted by its
images, over all mini-batches (``training.train_epochs``). With equal mini-batches
and no trailing group the two are the same mean, up to rounding.

Torch-free: a list of floats in, a float out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

GROUP = 10  # mini-batches per running mean, as the authors printed and recorded them


def running_means(batch_losses: Iterable[float]) -> list[float]:
    """The running mean of every complete group of ``GROUP`` mini-batches, in order."""
    means, running = [], 0.0
    for i, loss in enumerate(batch_losses):
        running += float(loss)
        if i % GROUP == GROUP - 1:
            means.append(running / GROUP)
            running = 0.0
    return means


def epoch_running_loss(batch_losses: Iterable[float]) -> float:
    """The authors' loss of one epoch: the mean of its running means; NaN for an epoch of
    fewer than ``GROUP`` mini-batches (no group, and a NaN never stops training)."""
    means = running_means(batch_losses)
    return float(np.mean(means)) if means else math.nan


def stops(running_loss: float, stop_loss: float | None) -> bool:
    """Whether training stops after an epoch of this loss (the authors' ``<=``)."""
    return stop_loss is not None and running_loss <= stop_loss
