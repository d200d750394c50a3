"""Module2's first stage (conv1 5x5 -> 2x2 max-pool) computed in 2x2 phases, for CPU training.

conv1 has 6 output channels; oneDNN computes them in 16-wide SIMD lanes, so
10/16 of its work is padding, and PyTorch's channels-last max-pool cannot
vectorise 6 channels either. Space-to-depth fixes both without changing the
function: the input becomes 12 channels of 16x16 (each channel one of the four
pixels of every 2x2 block), and conv1 becomes a 3x3 convolution with 24 output
channels, one per (conv1 channel, pixel of the 2x2 pooling window) ("phase").
The 2x2 max-pool is then a maximum over each channel's four phases. The 24x12x3x3
kernel is gathered from conv1's 6x3x5x5 weight (zeros where a phase's window
misses the 5x5 kernel), so gradients flow back to the ordinary parameters and
the model's state_dict is unchanged.

Same values up to float32 rounding (different summation order); with conv2's
input gradient taken in NCHW (``Conv2d``) a training step runs 10-22% faster
(BENCHMARKS.md). CUDA keeps the direct form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import Module2

PHASES = 4  # the 2x2 pixels of a pooling window, row-major: (0,0), (0,1), (1,0), (1,1)


def to_phases(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, 4C, H/2, W/2] channels-last; channel c*4 + 2*dy + dx holds pixel (2i+dy, 2j+dx)."""
    n, c, h, w = images.shape
    if h % 2 or w % 2:
        raise ValueError(f"to_phases needs an even height and width, got {h}x{w}")
    blocks = images.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return blocks.reshape(n, h // 2, w // 2, c * PHASES).permute(0, 3, 1, 2)


def phase_kernel_index(out_channels: int, in_channels: int, kernel: int) -> torch.Tensor:
    """Index into ``cat(weight.flatten(), [0])`` giving the phased kernel.

    Phased kernel [out*4, in*4, r, r], r = kernel//2 + 1: output phase (py, px)
    at block (i, j) is conv1's output at pixel (2i+py, 2j+px), which reads input
    pixel (2i+py+kh, 2j+px+kw) = block (i + (py+kh)//2, ...), phase ((py+kh)%2, ...).
    """
    zero = out_channels * in_channels * kernel * kernel
    reach = kernel // 2 + 1
    index = torch.full((out_channels * PHASES, in_channels * PHASES, reach, reach), zero, dtype=torch.long)
    weight_index = torch.arange(zero).view(out_channels, in_channels, kernel, kernel)
    for py in range(2):
        for px in range(2):
            for sy in range(2):
                for sx in range(2):
                    for ry in range(reach):
                        for rx in range(reach):
                            kh, kw = 2 * ry + sy - py, 2 * rx + sx - px
                            if 0 <= kh < kernel and 0 <= kw < kernel:
                                index[py * 2 + px :: PHASES, sy * 2 + sx :: PHASES, ry, rx] = weight_index[:, :, kh, kw]
    return index


class PhaseMax(torch.autograd.Function):
    """Maximum over the 4 phases of each channel: exactly ``F.max_pool2d(x, 2)`` of the un-phased
    tensor, values and gradient, ties included (the first maximum in row-major window order wins).
    """

    @staticmethod
    def forward(ctx, phased: torch.Tensor) -> torch.Tensor:
        n, channels, h, w = phased.shape
        grouped = phased.permute(0, 2, 3, 1).reshape(n, h, w, channels // PHASES, PHASES)
        top = torch.maximum(grouped[..., 0], grouped[..., 1])
        pooled = torch.maximum(top, torch.maximum(grouped[..., 2], grouped[..., 3]))
        ctx.save_for_backward(grouped, pooled)
        return pooled.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grouped, pooled = ctx.saved_tensors
        # One strided comparison per phase beats one broadcast over the last axis of 4.
        hits = torch.empty(grouped.shape, dtype=torch.bool, device=grouped.device)
        for phase in range(PHASES):
            torch.eq(grouped[..., phase], pooled, out=hits[..., phase])
        # The four booleans of a window are the four bytes of one int32: w & -w keeps the
        # lowest set byte, the first maximum (little-endian, which is what torch runs on).
        words = hits.view(torch.int32)
        first = (words & -words).view(torch.uint8)
        # Select by bit mask (all-ones where first) rather than a multiply: 0 * inf would be nan.
        mask = first.to(torch.int32).neg_()
        spread = grad.permute(0, 2, 3, 1).unsqueeze(-1).expand(grouped.shape).contiguous()
        routed = spread.view(torch.int32).bitwise_and_(mask).view(grad.dtype)
        n, h, w = routed.shape[:3]
        return routed.view(n, h, w, -1).permute(0, 3, 1, 2)


class Conv2d(torch.autograd.Function):
    """A stride-1 unpadded convolution whose input gradient is computed in NCHW.

    oneDNN's channels-last input gradient for conv2 (6 input channels) takes
    4.5 ms of a 22 ms step; the NCHW one 3.3 ms, conversions included about
    1 ms less. Forward and weight gradient stay channels-last.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        geometry = ([weight.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(grad, x, weight, *geometry, [False, True, True])
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x, _, _ = torch.ops.aten.convolution_backward(
                grad.contiguous(), x.contiguous(), weight.contiguous(), *geometry, [True, False, False]
            )
            grad_x = grad_x.contiguous(memory_format=torch.channels_last)
        return grad_x, grad_weight, grad_bias


class PhasedModule2:
    """Runs a Module2 on phased inputs (``to_phases``), sharing its parameters."""

    def __init__(self, model: Module2):
        conv1 = model.conv1
        if conv1.stride != (1, 1) or conv1.padding != (0, 0) or conv1.kernel_size[0] != conv1.kernel_size[1]:
            raise ValueError("PhasedModule2 needs conv1 with a square kernel, stride 1 and no padding")
        self.model = model
        out_channels, in_channels, kernel, _ = conv1.weight.shape
        self.index = phase_kernel_index(out_channels, in_channels, kernel).to(conv1.weight.device)

    def __call__(self, phased_images: torch.Tensor) -> torch.Tensor:
        conv1 = self.model.conv1
        weight = torch.cat([conv1.weight.reshape(-1), conv1.weight.new_zeros(1)])[self.index]
        weight = weight.contiguous(memory_format=torch.channels_last)
        bias = conv1.bias.repeat_interleave(PHASES)
        pooled = torch.relu(PhaseMax.apply(F.conv2d(phased_images, weight, bias)))
        conv2 = self.model.conv2
        return self.model.after_conv2(Conv2d.apply(pooled, conv2.weight, conv2.bias))
