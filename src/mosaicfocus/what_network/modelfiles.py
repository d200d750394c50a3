"""What the model jobs write, the same whichever trainer ran: the weights with their
record (health, device, what made them), the loss table, and one JSON per score.

The per-model jobs (train, evaluate) and the lock-step job (train_lockstep) call
these, so their files cannot drift apart.
"""

from __future__ import annotations

import torch

from mosaicfocus.files import write_json_atomic
from mosaicfocus.provenance import evaluation_provenance
from mosaicfocus.what_network.evaluation import accuracy
from mosaicfocus.what_network.health import training_health
from mosaicfocus.what_network.training import TrainingState


def model_health(state: TrainingState, train_predictions: torch.Tensor, train_labels: torch.Tensor, classes: int):
    """The health record of a trained model (health.training_health), from its predictions
    on its own training set."""
    return training_health(
        state.losses,
        state.fc3_units_active,
        classes=classes,
        classes_predicted=int(train_predictions.unique().numel()),
        train_accuracy=accuracy(train_predictions, train_labels)["accuracy"],
        abandoned=state.abandoned,
        running_losses=state.running_losses,
        stopped_at_epoch=state.stopped_at,
    )


def health_line(health: dict) -> str:
    return (
        f"health: {health['status']} after {health['attempts']} attempt(s); final loss {health['final_loss']:.4f}, "
        f"{health['fc3_units_active']} fc3 units active, {health['classes_predicted']} class(es) predicted, "
        f"training accuracy {health['train_accuracy']:.2f}%"
    )


def write_evaluation(
    path, model_meta: dict, tested_on: int, split: str, result: dict, device: dict, versions: dict, code: dict
):
    """One cell of the matrix: a model's score on one dataset and what produced it, the code
    of every job behind it included (``provenance.code_lineage``)."""
    write_json_atomic(
        path,
        {
            "trained_on": model_meta["trained_on"],
            "tested_on": tested_on,
            "tested_split": "heldout" if split else "train",
            **result,
            **evaluation_provenance(model_meta),
            "device": device,
            "versions": versions,
            "code": code,
        },
    )
