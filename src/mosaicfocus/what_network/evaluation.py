"""Scoring a trained model on a dataset (docs/protocol.md, "Evaluation")."""

from __future__ import annotations

import torch

from mosaicfocus.what_network.fast import predict

__all__ = ["accuracy", "predict"]


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> dict:
    """Correct count, total and accuracy in percent (full precision, never truncated)."""
    total = int(labels.numel())
    correct = int((predictions == labels).sum())
    return {"correct": correct, "total": total, "accuracy": 100.0 * correct / total if total else float("nan")}
