"""Scoring a trained model on a dataset (PROTOCOL.md, "Evaluation")."""

from __future__ import annotations

import torch

from .model import Module2
from .phases import PhasedModule2, to_row_phases
from .training import reuse_freed_memory


@torch.inference_mode()
def predict(model: Module2, images: torch.Tensor, batch_size: int = 500, phased: bool | None = None) -> torch.Tensor:
    """argmax of the logits of every image, ``batch_size`` images at a time.

    Batches of a few hundred stay in the CPU caches (BENCHMARKS.md). ``phased``
    (default: on the CPU) runs conv1 and its pooling in row phases, as training
    does: about 30% faster than the direct form, the same logits up to float32
    rounding.
    """
    model.eval()
    reuse_freed_memory()
    device = next(model.parameters()).device
    if phased is None:
        phased = device.type == "cpu"
    forward = PhasedModule2(model) if phased else model
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device)
        logits = forward(to_row_phases(batch) if phased else batch)
        out.append(logits.argmax(dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> dict:
    """Correct count, total and accuracy in percent (full precision, never truncated)."""
    total = int(labels.numel())
    correct = int((predictions == labels).sum())
    return {"correct": correct, "total": total, "accuracy": 100.0 * correct / total if total else float("nan")}
