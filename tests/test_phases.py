"""The row-phased form of conv1 + pooling used on the CPU for training and scoring."""

import pytest
import torch
import torch.nn.functional as F

from mosaicfocus.data.sources import make_synthetic
from mosaicfocus.what_network.fast.direct import max_pool_2x2_values
from mosaicfocus.what_network.fast.phases import (
    PhasedModule2,
    RowPhaseMax,
    row_phase_kernel_index,
    row_phase_max_values,
    to_row_phases,
)
from mosaicfocus.what_network.model import build_model
from mosaicfocus.what_network.training import TrainConfig, train_model


def _from_row_phases(phased: torch.Tensor) -> torch.Tensor:
    n, c2, h, w = phased.shape
    return phased.reshape(n, 2, c2 // 2, h, w).permute(0, 2, 3, 1, 4).reshape(n, c2 // 2, 2 * h, w)


def test_to_row_phases_layout():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    phased = to_row_phases(x)
    assert phased.shape == (2, 6, 2, 6)
    assert phased.is_contiguous(memory_format=torch.channels_last)
    # channel sy*3 + c at row block r is row 2r+sy of channel c
    assert phased[1, 1 * 3 + 2, 1, 5] == x[1, 2, 3, 5]
    assert phased[0, 0 * 3 + 1, 1, 4] == x[0, 1, 2, 4]
    assert torch.equal(_from_row_phases(phased), x)
    # any input layout, and any chunking, gives the same tensor
    assert torch.equal(to_row_phases(x.contiguous(memory_format=torch.channels_last)), phased)
    assert torch.equal(to_row_phases(x, chunk=1), phased)
    with pytest.raises(ValueError, match="even height"):
        to_row_phases(torch.zeros(1, 3, 5, 4))


def test_row_phased_conv1_equals_the_direct_convolution():
    weight = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    index = row_phase_kernel_index(6, 3, 5)
    assert index.shape == (12, 6, 3, 5)
    phased_weight = torch.cat([weight.reshape(-1), weight.new_zeros(1)])[index]
    phased_out = F.conv2d(to_row_phases(x), phased_weight)  # [4, 12, 14, 28]
    assert torch.allclose(_from_row_phases(phased_out), F.conv2d(x, weight), atol=1e-12)
    # every conv1 weight appears once in each of the two output phases
    counts = torch.bincount(index.flatten(), minlength=6 * 3 * 25 + 1)
    assert torch.equal(counts[:-1], torch.full((450,), 2))


@pytest.mark.parametrize("layout", ["random", "ties", "diagonal ties"])
def test_row_phase_max_is_max_pool2d_bit_for_bit_with_ties(layout):
    g = torch.Generator().manual_seed(5)
    direct = torch.randn(8, 6, 28, 28, generator=g)
    if layout == "ties":
        direct = direct.round()  # many equal maxima inside windows
        direct[:, :, :6] = 1.0
    if layout == "diagonal ties":
        # (0,1) and (1,0) of a window equal and largest: row-major order gives (0,1) the gradient
        direct = torch.zeros(8, 6, 28, 28)
        direct[:, :, 0::2, 1::2] = 2.0
        direct[:, :, 1::2, 0::2] = 2.0
        direct[:, :, 1::2, 1::2] = torch.randint(0, 3, (8, 6, 14, 14), generator=g).float()
    direct = direct.contiguous(memory_format=torch.channels_last).requires_grad_()
    phased = to_row_phases(direct.detach()).clone().requires_grad_()
    expected = F.max_pool2d(direct, 2)
    pooled = RowPhaseMax.apply(phased)
    assert torch.equal(pooled, expected)
    assert torch.equal(row_phase_max_values(phased.detach()), max_pool_2x2_values(direct.detach()))
    grad_out = torch.randn(expected.shape, generator=g)
    (grad_direct,) = torch.autograd.grad(expected, direct, grad_out)
    (grad_phased,) = torch.autograd.grad(pooled, phased, grad_out)
    assert torch.equal(_from_row_phases(grad_phased), grad_direct)


def test_row_phase_max_signed_zeros_and_the_smallest_differences():
    # -0.0 == +0.0 is a tie (the first wins), and values one subnormal apart are not.
    tiny = torch.finfo(torch.float32).smallest_normal * torch.finfo(torch.float32).eps
    values = torch.tensor([0.0, -0.0, tiny, -tiny, 1.0, 1.0 + torch.finfo(torch.float32).eps])
    g = torch.Generator().manual_seed(11)
    direct = values[torch.randint(0, len(values), (4, 6, 28, 28), generator=g)]
    direct = direct.contiguous(memory_format=torch.channels_last).requires_grad_()
    phased = to_row_phases(direct.detach()).clone().requires_grad_()
    expected = F.max_pool2d(direct, 2)
    pooled = RowPhaseMax.apply(phased)
    assert torch.equal(pooled, expected)
    grad_out = torch.rand(expected.shape, generator=g) + 1
    (grad_direct,) = torch.autograd.grad(expected, direct, grad_out)
    (grad_phased,) = torch.autograd.grad(pooled, phased, grad_out)
    assert torch.equal(_from_row_phases(grad_phased), grad_direct)


def test_infinite_gradients_do_not_leak_into_other_pixels():
    direct = torch.randn(2, 6, 28, 28).contiguous(memory_format=torch.channels_last)
    phased = to_row_phases(direct).clone().requires_grad_()
    pooled = RowPhaseMax.apply(phased)
    grad_out = torch.full(pooled.shape, float("inf"))
    (grad_phased,) = torch.autograd.grad(pooled, phased, grad_out)
    assert not grad_phased.isnan().any()
    assert int(grad_phased.isinf().sum()) == pooled.numel()  # one pixel per window, the rest exactly 0


def test_phased_model_matches_module2_values_and_gradients():
    model = build_model(3, 7).to(memory_format=torch.channels_last)
    x = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    y = torch.arange(32) % 3
    logits = model(x.contiguous(memory_format=torch.channels_last))
    phased_logits = PhasedModule2(model)(to_row_phases(x))
    assert torch.allclose(phased_logits, logits, rtol=1e-5, atol=1e-6)
    grads = []
    for out in (logits, phased_logits):
        grads.append(torch.autograd.grad(F.cross_entropy(out, y), list(model.parameters())))
    for direct, phased in zip(*grads):
        assert torch.allclose(phased, direct, rtol=1e-4, atol=1e-6 * direct.abs().max())
    with torch.inference_mode():
        scored = PhasedModule2(model)(to_row_phases(x))
    assert torch.allclose(scored, phased_logits.detach(), rtol=1e-6, atol=1e-7)


def test_phased_module_refuses_a_conv1_it_cannot_phase():
    model = build_model(3, 0)
    model.conv1 = torch.nn.Conv2d(3, 6, 4)
    with pytest.raises(ValueError, match="odd square kernel"):
        PhasedModule2(model)


def test_phased_training_follows_direct_training_and_is_reproducible():
    images, labels, _ = make_synthetic(60, seed=2)
    keep = labels < 3
    x = images[keep].float() / 127.5 - 1
    y = labels[keep]
    config = TrainConfig(lr=0.02, momentum=0.9, batch_size=16, outputs=3, restarts=0)
    state_direct, losses_direct = train_model(x, y, config, 3, 6, phased=False)
    state_a, losses_a = train_model(x, y, config, 3, 6, phased=True)
    state_b, losses_b = train_model(x, y, config, 3, 6, phased=True)
    assert losses_a == losses_b and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert losses_a == pytest.approx(losses_direct, rel=1e-4)
    for key in state_direct:
        assert torch.allclose(state_a[key], state_direct[key], rtol=1e-3, atol=1e-5), key
    assert set(state_a) == set(build_model(3, 0).state_dict())
