"""The phased (space-to-depth) form of conv1 + pooling used for CPU training."""

import pytest
import torch
import torch.nn.functional as F

from mosaicfocus.data import make_synthetic
from mosaicfocus.model import build_model
from mosaicfocus.phases import PhasedModule2, PhaseMax, phase_kernel_index, to_phases
from mosaicfocus.training import TrainConfig, train_model


def _from_phases(phased: torch.Tensor) -> torch.Tensor:
    n, c4, h, w = phased.shape
    c = c4 // 4
    return phased.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


def test_to_phases_layout():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    phased = to_phases(x)
    assert phased.shape == (2, 12, 2, 3)
    assert phased.is_contiguous(memory_format=torch.channels_last)
    # channel c*4 + 2*dy + dx at block (i, j) is pixel (2i+dy, 2j+dx) of channel c
    assert phased[1, 2 * 4 + 3, 1, 2] == x[1, 2, 3, 5]
    assert phased[0, 1 * 4 + 1, 0, 1] == x[0, 1, 0, 3]
    assert torch.equal(_from_phases(phased), x)
    with pytest.raises(ValueError, match="even height and width"):
        to_phases(torch.zeros(1, 3, 5, 4))


def test_phased_conv1_equals_the_direct_convolution():
    weight = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    phased_weight = torch.cat([weight.reshape(-1), weight.new_zeros(1)])[phase_kernel_index(6, 3, 5)]
    phased_out = F.conv2d(to_phases(x), phased_weight)  # [4, 24, 14, 14]
    assert torch.allclose(_from_phases(phased_out), F.conv2d(x, weight), atol=1e-12)
    # every conv1 weight appears once in each of the four output phases
    counts = torch.bincount(phase_kernel_index(6, 3, 5).flatten(), minlength=6 * 3 * 25 + 1)
    assert torch.equal(counts[:-1], torch.full((450,), 4))


@pytest.mark.parametrize("layout", ["random", "ties"])
def test_phase_max_is_max_pool2d_bit_for_bit_with_ties(layout):
    g = torch.Generator().manual_seed(5)
    direct = torch.randn(8, 6, 28, 28, generator=g)
    if layout == "ties":
        direct = direct.round()  # many equal maxima inside windows
        direct[:, :, :6] = 1.0
    direct = direct.contiguous(memory_format=torch.channels_last).requires_grad_()
    phased = to_phases(direct.detach()).clone().requires_grad_()
    expected = F.max_pool2d(direct, 2)
    pooled = PhaseMax.apply(phased)
    assert torch.equal(pooled, expected)
    grad_out = torch.randn(expected.shape, generator=g)
    (grad_direct,) = torch.autograd.grad(expected, direct, grad_out)
    (grad_phased,) = torch.autograd.grad(pooled, phased, grad_out)
    assert torch.equal(_from_phases(grad_phased), grad_direct)


def test_phased_model_matches_module2_values_and_gradients():
    model = build_model(3, 7).to(memory_format=torch.channels_last)
    x = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    y = torch.arange(32) % 3
    logits = model(x.contiguous(memory_format=torch.channels_last))
    phased_logits = PhasedModule2(model)(to_phases(x))
    assert torch.allclose(phased_logits, logits, rtol=1e-5, atol=1e-6)
    grads = []
    for out in (logits, phased_logits):
        grads.append(torch.autograd.grad(F.cross_entropy(out, y), list(model.parameters())))
    for direct, phased in zip(*grads):
        assert torch.allclose(phased, direct, rtol=1e-4, atol=1e-6 * direct.abs().max())


def test_phased_training_follows_direct_training_and_is_reproducible():
    images, labels, _ = make_synthetic(60, seed=2)
    keep = labels < 3
    x = images[keep].float() / 127.5 - 1
    y = labels[keep]
    config = TrainConfig(lr=0.02, batch_size=16, epochs=6)
    state_direct, losses_direct = train_model(x, y, config, seed=3, phased=False)
    state_a, losses_a = train_model(x, y, config, seed=3, phased=True)
    state_b, losses_b = train_model(x, y, config, seed=3, phased=True)
    assert losses_a == losses_b and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert losses_a == pytest.approx(losses_direct, rel=1e-4)
    for key in state_direct:
        assert torch.allclose(state_a[key], state_direct[key], rtol=1e-3, atol=1e-5), key
    assert set(state_a) == set(build_model(3, 0).state_dict())
