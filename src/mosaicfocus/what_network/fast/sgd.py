"""SGD with momentum, without the cost of importing torch.optim."""

from __future__ import annotations

import torch


class MomentumSGD:
    """``torch.optim.SGD(params, lr, momentum, foreach=True)`` (no dampening, Nesterov or
    weight decay) bit for bit: the same foreach kernels in the same order.

    Written out because constructing torch.optim.SGD imports torch._dynamo, seconds
    of CPU in every training job. The test suite
    checks it against torch.optim.SGD step by step.
    """

    def __init__(self, params, lr: float, momentum: float):
        self.params = list(params)
        self.lr, self.momentum = lr, momentum
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [param.grad for param in self.params]
        if self.momentum != 0:
            if all(buffer is not None for buffer in self.buffers):
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads, alpha=1)
            else:
                for i, grad in enumerate(grads):
                    if self.buffers[i] is None:
                        self.buffers[i] = grad.detach().clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(grad, alpha=1)
            grads = self.buffers
        torch._foreach_add_(self.params, grads, alpha=-self.lr)
