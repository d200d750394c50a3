"""Several Module2 networks as one: every layer a single kernel over all of them.

The nine what networks of a replicate are tiny (62,000 parameters each); on a GPU
one of them is a chain of ~60 small kernels a step, bound by the host that
launches them. Stacked, the same kernels carry all nine: the convolutions as
grouped convolutions (``groups`` = networks), the linear layers as batched
matrix products, the loss and the optimizer over stacked tensors. Each network
still sees only its own inputs and parameters: a group of a grouped convolution
and a batch of ``baddbmm`` never read another's, so changing one network's data
or weights cannot move another's bits.

Chosen over ``torch.func.vmap`` of Module2: vmap lowers a batched conv2d to the
same grouped convolution, but adds its own dispatch to every operation of every
step, which is exactly the host time this path exists to remove; plain autograd
over stacked tensors also keeps the step capturable as one CUDA graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mosaicfocus.what_network.fast.sgd import MomentumSGD
from mosaicfocus.what_network.model import Module2

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3", "fc4")


class StackedModule2(nn.Module):
    """``networks`` Module2s whose parameters are stacked along a new first dimension.

    ``conv1.weight`` is ``[networks, 6, 3, 5, 5]`` and so on; ``state_dict_of(k)``
    gives network ``k``'s own ``state_dict`` back, bit for bit.
    """

    def __init__(self, models: Sequence[Module2]):
        super().__init__()
        self.networks = len(models)
        for name, _ in models[0].named_parameters():
            stacked = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
            self.register_parameter(name.replace(".", "_"), nn.Parameter(stacked.clone()))

    def parameter(self, name: str) -> nn.Parameter:
        """The stacked tensor of Module2's parameter ``name`` (e.g. ``"conv1.weight"``)."""
        return getattr(self, name.replace(".", "_"))

    def parameter_names(self) -> list[str]:
        """Module2's parameter names, in the order of ``parameters()``."""
        return [name.replace("_", ".", 1) for name, _ in self.named_parameters()]

    def state_dict_of(self, network: int) -> dict[str, torch.Tensor]:
        return {name: p.detach()[network].clone() for name, p in zip(self.parameter_names(), self.parameters())}

    @torch.no_grad()
    def load_network(self, network: int, state_dict: dict[str, torch.Tensor]) -> None:
        for name, p in zip(self.parameter_names(), self.parameters()):
            p[network].copy_(state_dict[name])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[networks, B, outputs]`` and fc3 features ``[networks, B, 10]`` of a batch
        laid out ``[B, networks * 3, H, W]`` (network k's images in channels 3k..3k+2)."""
        n = self.networks
        x = self._conv(x, "conv1")
        x = self._conv(torch.relu(_pool(x)), "conv2")
        x = torch.relu(_pool(x))
        # [B, n * 16, 5, 5] -> [n, B, 400]: each network's flattened features, as Module2 flattens them.
        x = x.view(x.shape[0], n, -1).transpose(0, 1)
        x = torch.relu(self._linear(x, "fc1"))
        x = torch.relu(self._linear(x, "fc2"))
        features = torch.relu(self._linear(x, "fc3"))
        return self._linear(features, "fc4"), features

    def _conv(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        weight = self.parameter(f"{layer}.weight")
        return F.conv2d(x, weight.flatten(0, 1), self.parameter(f"{layer}.bias").flatten(), groups=self.networks)

    def _linear(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        weight, bias = self.parameter(f"{layer}.weight"), self.parameter(f"{layer}.bias")
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _pool(x: torch.Tensor) -> torch.Tensor:
    # Pooling before the ReLU is exact (direct.py) and runs the ReLU on a quarter of the values.
    return F.max_pool2d(x, 2)


class StackedBatches:
    """The training images of every network on ``device``, gathered into the layout
    ``StackedModule2`` takes: ``batches[index]`` with ``index [networks, B]`` (network k's
    own image numbers) is ``[B, networks * C, H, W]``, one ``index_select`` of whole rows."""

    def __init__(self, images: Sequence[torch.Tensor], device: torch.device | str):
        count = images[0].shape[0]
        if any(x.shape != images[0].shape for x in images):
            raise ValueError(f"lock-step training needs datasets of one shape, got {[list(x.shape) for x in images]}")
        self.networks, self.count = len(images), count
        self.image_shape = images[0].shape[1:]
        # Filled one dataset at a time: the host holds the stack and one dataset, not two stacks.
        self.rows = torch.empty((self.networks * count, images[0][0].numel()), dtype=images[0].dtype, device=device)
        for k, x in enumerate(images):
            self.rows[k * count : (k + 1) * count] = x.reshape(count, -1).to(device)
        self.offsets = (torch.arange(self.networks, device=device) * count).unsqueeze(1)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        rows = (index + self.offsets).t().reshape(-1)  # batch position major, network minor
        c, h, w = self.image_shape
        return self.rows.index_select(0, rows).view(-1, self.networks * c, h, w)


class StackedMomentumSGD(MomentumSGD):
    """``MomentumSGD`` on stacked parameters, network by network the same arithmetic.

    A network's first step (``fresh``) takes its gradient as the momentum buffer, as
    torch.optim.SGD does; then buffer = momentum * buffer + grad and
    param -= lr * buffer, as foreach kernels over all networks at once.
    """

    def __init__(self, params, lr: float, momentum: float):
        super().__init__(params, lr, momentum)
        self.buffers = [torch.zeros_like(p) for p in self.params]
        self.networks = self.params[0].shape[0]
        self.fresh = set(range(self.networks))  # known on the host: no device sync to decide

    @torch.no_grad()
    def step(self) -> None:
        grads = [param.grad for param in self.params]
        if self.momentum != 0:
            if len(self.fresh) == self.networks:
                torch._foreach_copy_(self.buffers, grads)
            else:
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads, alpha=1)
                for k in self.fresh:
                    for buffer, grad in zip(self.buffers, grads):
                        buffer[k].copy_(grad[k])
            self.fresh.clear()
            grads = self.buffers
        torch._foreach_add_(self.params, grads, alpha=-self.lr)
