"""The "what" network of the study (Module2): a LeNet-style CNN, in the protocol's layer order.

How it is computed fast on a CPU (row phases, pooling before the ReLU) is the
business of ``mosaicfocus.what_network.fast``; the function is this one.
"""

from __future__ import annotations

import torch
from torch import nn


class Module2(nn.Module):
    def __init__(self, outputs: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.fc4 = nn.Linear(10, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc4(self.features(x))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``, in the weights' own floating-point type: a network given
        float64 weights (``train.dtype: float64``) becomes float64 instead of rounding them to
        float32 (what nn.Module's copy into the existing parameters would do)."""
        dtypes = {t.dtype for t in state_dict.values() if t.is_floating_point()}
        if len(dtypes) == 1:
            self.to(dtypes.pop())
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 10 ReLU units of fc3: all that fc4 sees, and what training health watches."""
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return torch.relu(self.fc3(x))


def build_model(outputs: int, seed: int) -> Module2:
    """Default PyTorch initialisation, drawn from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):  # initialisation runs on the CPU; CUDA's RNG stays untouched
        torch.manual_seed(seed)
        return Module2(outputs)
