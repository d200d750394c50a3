"""The "what" network of the study (Module2): a LeNet-style CNN with 3 outputs."""

from __future__ import annotations

import torch
from torch import nn


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        x = torch.relu(self.fc3(x))
        return self.fc4(x)


def build_model(num_classes: int, seed: int) -> Module2:
    """Default PyTorch initialisation, drawn from ``seed`` without touching the global RNG."""
    devices = []  # initialisation runs on the CPU only; keep CUDA RNG untouched
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return Module2(num_classes)
