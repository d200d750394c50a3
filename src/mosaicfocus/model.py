"""The "what" network of the study (Module2): a LeNet-style CNN with 3 outputs."""

from __future__ import annotations

import torch
from torch import nn


def max_pool_2x2_values(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling (stride 2, even height and width) without the argmax indices.

    Gives exactly the values of ``F.max_pool2d(x, 2)``; on the CPU it is about
    5x faster for 6 channels because it skips the indices that only backward needs.
    """
    top = torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2])
    bottom = torch.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2])
    return torch.maximum(top, bottom)


class Module2(nn.Module):
    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.fc4 = nn.Linear(10, num_classes)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        needs_indices = torch.is_grad_enabled() and x.requires_grad
        if needs_indices or x.is_cuda or x.shape[-1] % 2 or x.shape[-2] % 2:
            return self.pool(x)
        return max_pool_2x2_values(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc4(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 10 units of fc3 after their ReLU: all fc4 sees, and what training health watches."""
        # relu(maxpool(x)) == maxpool(relu(x)) exactly, values and gradients alike
        # (both commute, and the first maximum of a window stays the first), but
        # pooling first runs the relu and its backward on a quarter of the values:
        # about 20% of a CPU training step.
        return self.features_after_conv2(self.conv2(torch.relu(self._pool(self.conv1(x)))))

    def features_after_conv2(self, x: torch.Tensor) -> torch.Tensor:
        """The second pooling to fc3's ReLU (shared with phases.PhasedModule2)."""
        x = torch.relu(self._pool(x))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return torch.relu(self.fc3(x))


def build_model(num_classes: int, seed: int) -> Module2:
    """Default PyTorch initialisation, drawn from ``seed`` without touching the global RNG."""
    devices = []  # initialisation runs on the CPU only; keep CUDA RNG untouched
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return Module2(num_classes)
