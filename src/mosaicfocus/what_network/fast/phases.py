"""Module2's first stage (conv1 5x5 -> 2x2 max-pool) computed in row phases, for the CPU.

conv1 has 6 output channels; oneDNN computes channels in 16-wide SIMD lanes, so
10/16 of its work is padding, and PyTorch's channels-last max-pool cannot
vectorise 6 channels either. Pairing rows fixes most of that without changing
the function: the input becomes 6 channels of 16 rows (channel ``sy*3 + c`` holds
row ``2r + sy`` of channel ``c``), and conv1 becomes a 3x5 convolution with 12
output channels (channel ``py*6 + o`` holds output row ``2i + py`` of channel
``o``), its kernel gathered from the 5x5 weight (zeros where a phase's three
rows reach past the kernel's five). The 2x2 max-pool is then a maximum over
pairs of neighbouring pixels, then over the two row phases.

Why rows and not 2x2 blocks: 2x2 phases give 24 output channels but a 3x3
kernel over 6x6 pixels of which 5x5 are used (1.44x the arithmetic); row
phases use 6x5 (1.2x), and oneDNN runs them faster, forward and weight
gradient (BENCHMARKS.md). Same values up to float32 rounding (different
summation order); the pooling is ``max_pool2d`` bit for bit, gradient and ties
included. CUDA keeps the direct form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mosaicfocus.what_network.fast.direct import features_after_conv2
from mosaicfocus.what_network.model import Module2


def to_row_phases(images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """[N, C, H, W] -> [N, 2C, H/2, W] channels-last; channel ``sy*C + c`` holds row ``2r + sy`` of channel c.

    ``chunk`` images at a time, so a whole training set is laid out with one
    extra chunk of memory beside the input and the output.
    """
    n, c, h, w = images.shape
    if h % 2:
        raise ValueError(f"to_row_phases needs an even height, got {h}")
    out = torch.empty((n, h // 2, w, 2 * c), dtype=images.dtype, device=images.device)
    for start in range(0, n, chunk):
        block = images[start : start + chunk]
        m = block.shape[0]
        # Two copies with long inner runs (whole rows, then a batched 2-D transpose)
        # instead of one permute with a 2-element inner loop.
        rows = block.reshape(m, c, h // 2, 2, w).permute(0, 2, 3, 1, 4).contiguous()  # m, r, sy, c, w
        pixels = out[start : start + m].view(m * (h // 2), w, 2 * c)  # (m r), w, (sy c)
        pixels.copy_(rows.view(m * (h // 2), 2 * c, w).transpose(1, 2))
    return out.permute(0, 3, 1, 2)


def row_phase_kernel_index(out_channels: int, in_channels: int, kernel: int) -> torch.Tensor:
    """Index into ``cat(weight.flatten(), [0])`` giving the row-phased kernel.

    Row-phased kernel [2*out, 2*in, kernel//2 + 1, kernel]: output phase py of
    row block i is conv1's output row 2i+py, which reads input row
    2i+py+kh = block i + (py+kh)//2, phase (py+kh)%2.
    """
    zero = out_channels * in_channels * kernel * kernel
    reach = kernel // 2 + 1
    index = torch.full((2 * out_channels, 2 * in_channels, reach, kernel), zero, dtype=torch.long)
    weight_index = torch.arange(zero).view(out_channels, in_channels, kernel, kernel)
    for py in range(2):
        for sy in range(2):
            for ry in range(reach):
                kh = 2 * ry + sy - py
                if 0 <= kh < kernel:
                    rows_out = slice(py * out_channels, (py + 1) * out_channels)
                    rows_in = slice(sy * in_channels, (sy + 1) * in_channels)
                    index[rows_out, rows_in, ry] = weight_index[:, :, kh]
    return index


def _pairs(phased: torch.Tensor) -> torch.Tensor:
    """Row-phased [N, 2C, H2, W] (channels-last) as [N, H2, W/2, 2 (dx), 2C (py, c)], a view."""
    n, channels, h, w = phased.shape
    if w % 2:
        raise ValueError(f"2x2 pooling needs an even width, got {w}")
    return phased.permute(0, 2, 3, 1).contiguous().view(n, h, w // 2, 2, channels)


def _pool_in_two_steps(phased: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pixel pairs, each window row's maximum, the pooled [N, C, H2, W/2]) of a row-phased tensor."""
    pairs = _pairs(phased)
    c = pairs.shape[-1] // 2
    rows = torch.maximum(pairs[:, :, :, 0], pairs[:, :, :, 1])  # each window row, left first
    return pairs, rows, torch.maximum(rows[..., :c], rows[..., c:]).permute(0, 3, 1, 2)


def row_phase_max_values(phased: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``'s values from the row-phased x, without what backward needs."""
    return _pool_in_two_steps(phased)[2]


class RowPhaseMax(torch.autograd.Function):
    """2x2 max-pool of a row-phased tensor: exactly ``F.max_pool2d(x, 2)`` of the un-phased x,
    values and gradient, ties included (the first maximum in row-major window order wins).
    """

    @staticmethod
    def forward(ctx, phased: torch.Tensor) -> torch.Tensor:
        pairs, rows, pooled = _pool_in_two_steps(phased)
        ctx.save_for_backward(pairs, rows)
        return pooled

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        pairs, rows = ctx.saved_tensors
        n, h, w2, _, channels = pairs.shape
        c = channels // 2
        # Row-major first maximum, in two steps: the top row wins ties between the rows'
        # maxima, the left pixel ties within a row. (Columns first would hand a tie of
        # (0,1) and (1,0) to (1,0).) Gradients are selected by all-ones/all-zeros int32
        # masks rather than multiplied: 0 * inf would be nan.
        words = grad.permute(0, 2, 3, 1).contiguous().view(torch.int32)
        bottom = _later_wins(rows[..., :c], rows[..., c:])
        by_row = torch.empty(n, h, w2, channels, dtype=torch.int32, device=grad.device)
        torch.bitwise_and(words, bottom, out=by_row[..., c:])
        torch.bitwise_and(words, bottom.bitwise_not_(), out=by_row[..., :c])
        right = _later_wins(pairs[:, :, :, 0], pairs[:, :, :, 1])
        routed = torch.empty(pairs.shape, dtype=torch.int32, device=grad.device)
        torch.bitwise_and(by_row, right, out=routed[:, :, :, 1])
        torch.bitwise_and(by_row, right.bitwise_not_(), out=routed[:, :, :, 0])
        return routed.view(grad.dtype).view(n, h, 2 * w2, channels).permute(0, 3, 1, 2)


def _later_wins(first: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
    """int32 all-ones where ``later > first``, zeros elsewhere (ties go to ``first``).

    ``later - first`` is positive exactly when later > first (IEEE subtraction of
    finite floats is 0 only for equal ones, and -0.0 reads as a negative int32),
    and a positive float reads as a positive int32: clamping that to 0..1 and
    negating gives the mask in three arithmetic passes, faster here than a
    comparison writing bools and widening them. Exact for finite
    values with subnormals kept (PyTorch's default; tested); ``inf - inf`` is
    nan, whose bits read positive, which only an already diverged training sees.
    """
    return torch.sub(later, first).view(torch.int32).clamp_(0, 1).neg_()


class Conv2d(torch.autograd.Function):
    """A stride-1 unpadded convolution whose input gradient is computed in NCHW.

    oneDNN's channels-last input gradient for conv2 (6 input channels) is slower
    than the NCHW one, conversions included (BENCHMARKS.md). Forward and weight
    gradient stay channels-last.
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
    """Runs a Module2 on row-phased inputs (``to_row_phases``), sharing its parameters.

    With gradients enabled it trains; without (``torch.no_grad`` or
    ``inference_mode``) it scores, skipping everything only backward needs.
    """

    def __init__(self, model: Module2):
        conv1 = model.conv1
        out_channels, in_channels, kernel, kernel_w = conv1.weight.shape
        if conv1.stride != (1, 1) or conv1.padding != (0, 0) or kernel != kernel_w or kernel % 2 == 0:
            raise ValueError("PhasedModule2 needs conv1 with an odd square kernel, stride 1 and no padding")
        self.model = model
        self.index = row_phase_kernel_index(out_channels, in_channels, kernel).to(conv1.weight.device)

    def __call__(self, phased_images: torch.Tensor) -> torch.Tensor:
        return self.model.fc4(self.features(phased_images))

    def features(self, phased_images: torch.Tensor) -> torch.Tensor:
        """``model.features`` of the un-phased images."""
        conv1, conv2 = self.model.conv1, self.model.conv2
        weight = torch.cat([conv1.weight.reshape(-1), conv1.weight.new_zeros(1)])[self.index]
        weight = weight.contiguous(memory_format=torch.channels_last)
        bias = conv1.bias.repeat(2)
        phased = F.conv2d(phased_images, weight, bias)
        if torch.is_grad_enabled():
            pooled = torch.relu(RowPhaseMax.apply(phased))
            return features_after_conv2(self.model, Conv2d.apply(pooled, conv2.weight, conv2.bias))
        # Scoring: conv2 runs faster on NCHW input here (no backward to serve).
        pooled = torch.relu_(row_phase_max_values(phased)).contiguous()
        return features_after_conv2(self.model, F.conv2d(pooled, conv2.weight, conv2.bias))
