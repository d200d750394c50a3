"""Module2's features in the direct form, pooling before each ReLU.

``relu(maxpool(x)) == maxpool(relu(x))`` exactly, values and gradients alike:
both commute, and the first maximum of a window stays the first. Pooling first
runs the ReLU and its backward on a quarter of the values (BENCHMARKS.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mosaicfocus.what_network.model import Module2


def max_pool_2x2_values(x: torch.Tensor) -> torch.Tensor:
    """The values of ``F.max_pool2d(x, 2)`` (even height and width) without the argmax indices,
    which only backward needs."""
    top = torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2])
    bottom = torch.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2])
    return torch.maximum(top, bottom)


def pool(x: torch.Tensor) -> torch.Tensor:
    needs_indices = torch.is_grad_enabled() and x.requires_grad
    if needs_indices or x.is_cuda or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.max_pool2d(x, 2)
    return max_pool_2x2_values(x)


def features(model: Module2, x: torch.Tensor) -> torch.Tensor:
    """``model.features(x)``, pooling first."""
    return features_after_conv2(model, model.conv2(torch.relu(pool(model.conv1(x)))))


def features_after_conv2(model: Module2, x: torch.Tensor) -> torch.Tensor:
    """From conv2's output to fc3's ReLU (shared with the row-phased form)."""
    x = torch.flatten(torch.relu(pool(x)), 1)
    x = torch.relu(model.fc1(x))
    x = torch.relu(model.fc2(x))
    return torch.relu(model.fc3(x))
