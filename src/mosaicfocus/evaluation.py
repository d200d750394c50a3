"""Scoring a trained model on a dataset (PROTOCOL.md, "Evaluation")."""

from __future__ import annotations

import torch

from .model import Module2
from .training import reuse_freed_memory


@torch.inference_mode()
def predict(model: Module2, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """argmax of the logits of every image, ``batch_size`` images at a time.

    Batches of a few hundred stay in the CPU caches: 500 scores about 27,000
    images/s on one thread here, 2,000 about 14,000 (BENCHMARKS.md).
    """
    model.eval()
    reuse_freed_memory()
    device = next(model.parameters()).device
    out = []
    for start in range(0, images.shape[0], batch_size):
        logits = model(images[start : start + batch_size].to(device))
        out.append(logits.argmax(dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> dict:
    """Correct count, total and accuracy in percent (full precision, never truncated)."""
    total = int(labels.numel())
    correct = int((predictions == labels).sum())
    return {"correct": correct, "total": total, "accuracy": 100.0 * correct / total if total else float("nan")}
