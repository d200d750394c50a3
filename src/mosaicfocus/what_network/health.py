"""Did a trained "what" network learn? The rule, fixed before any result is read.

Every network starts on the plateau of loss ln C (C foreground classes, one
class predicted). While it sits there the ReLUs of fc3, the 10-unit layer before
the logits, can go silent one by one. When none of them is active on any image
of a whole epoch, fc4 sees zeros: every gradient but fc4's bias is zero and the
network predicts one class for good. The status of a trained model is:

- ``dead``: in some epoch no fc3 unit was active (output > 0) on any training
  image, or the loss was not finite (a diverged network: NaN is never > 0).
  ``died_at_epoch`` is the first such epoch.
- ``plateau``: alive, but the last epoch's mean loss is still above
  ``PLATEAU_FRACTION`` ln C (within 5% of the loss of a uniform guess or worse).
- ``learned``: alive and below that.

``learning_epoch`` is the first epoch whose loss fell below ``LEARNING_FRACTION``
ln C (the network left the plateau), or None. With ``train.restarts`` a dead
network is re-initialised and trained again (training.train_epochs); the
status describes the attempt that was kept, and the abandoned ones are listed.
With ``train.stop_loss`` the kept attempt may have stopped early: the rule reads
its epochs up to the stop, and the record adds ``stopped_at_epoch`` (or None)
and every epoch's loss by the authors' rule (``running_losses``, ``stoprule``).

Torch-free: the report reads it without torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

STATUSES = ("learned", "plateau", "dead")
LEARNING_FRACTION = 0.9
PLATEAU_FRACTION = 0.95


def is_dead(loss: float, units_active: int) -> bool:
    """The rule for one epoch: no fc3 unit active on any image, or a loss that is not finite."""
    return units_active == 0 or not math.isfinite(loss)


def death_reason(loss: float, epoch: int) -> str:
    if not math.isfinite(loss):
        return f"diverged: mean loss {loss} in epoch {epoch}"
    return f"dead: no fc3 unit active on any training image in epoch {epoch}"


def first_dead_epoch(losses: Sequence[float], fc3_units_active: Sequence[int]) -> int | None:
    """The first epoch (1-based) that ``is_dead``, or None."""
    return next((e for e, (loss, units) in enumerate(zip(losses, fc3_units_active), 1) if is_dead(loss, units)), None)


def training_health(
    losses: Sequence[float],
    fc3_units_active: Sequence[int],
    classes: int,
    classes_predicted: int,
    train_accuracy: float,
    abandoned: Sequence[dict] = (),
    running_losses: Sequence[float] = (),
    stopped_at_epoch: int | None = None,
) -> dict:
    """Health record of the kept attempt (losses and fc3 units active per epoch, and the
    predictions of the final weights on the training set) plus the abandoned attempts;
    with a stop rule (``running_losses`` given), the epoch it stopped after or None."""
    if not losses or len(losses) != len(fc3_units_active):
        raise ValueError(
            f"need one loss and one active-unit count per epoch, got {len(losses)} and {len(fc3_units_active)}"
        )
    chance = math.log(classes)
    died_at = first_dead_epoch(losses, fc3_units_active)
    learning_epoch = next((e for e, loss in enumerate(losses, 1) if loss < LEARNING_FRACTION * chance), None)
    if died_at is not None:
        status = "dead"
    elif losses[-1] > PLATEAU_FRACTION * chance:
        status = "plateau"
    else:
        status = "learned"
    record = {
        "status": status,
        "attempts": len(abandoned) + 1,
        "final_loss": float(losses[-1]),
        "min_loss": float(min(losses)),
        "fc3_units_active": int(fc3_units_active[-1]),
        "classes_predicted": int(classes_predicted),
        "train_accuracy": float(train_accuracy),
        "learning_epoch": learning_epoch,
        "died_at_epoch": died_at,
        "abandoned": [{key: attempt[key] for key in ("attempt", "seed", "epoch", "reason")} for attempt in abandoned],
    }
    if running_losses:  # only with a stop rule: other records stay as they were
        record.update(stopped_at_epoch=stopped_at_epoch, running_losses=[float(x) for x in running_losses])
    return record


def abandoned_summary(abandoned: Sequence[dict]) -> str:
    """One line for a table cell: ``attempt 1 (seed S) dead at epoch 7; ...``, or empty."""
    return "; ".join(
        f"attempt {a['attempt']} (seed {a['seed']}) {a['reason'].split(':')[0]} at epoch {a['epoch']}"
        for a in abandoned
    )


STOP_COLUMNS = ["stopped_at_epoch"]  # after HEALTH_COLUMNS, in a table with a stopped model's record
HEALTH_COLUMNS = [
    "replicate",
    "trained_on",
    "status",
    "attempts",
    "final_loss",
    "min_loss",
    "fc3_units_active",
    "classes_predicted",
    "train_accuracy",
    "learning_epoch",
    "died_at_epoch",
    "abandoned",
]


def health_row(replicate: int, trained_on: int, health: dict) -> dict:
    """A row of results/training_health.csv."""
    row = {"replicate": replicate, "trained_on": trained_on}
    row.update({k: health[k] for k in HEALTH_COLUMNS + STOP_COLUMNS if k in health and k != "abandoned"})
    row["abandoned"] = abandoned_summary(health["abandoned"])
    return row
