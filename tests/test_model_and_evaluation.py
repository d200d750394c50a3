import math

import pytest
import torch

from mosaicfocus.data.sources import make_synthetic
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.fast.phases import PhasedModule2, to_row_phases
from mosaicfocus.what_network.model import Module2, build_model
from mosaicfocus.what_network.training import TrainConfig, train_model


def test_module2_shapes_and_size():
    model = Module2(3)
    assert model(torch.zeros(5, 3, 32, 32)).shape == (5, 3)
    layers = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers == [(400, 120), (120, 84), (84, 10), (10, 3)]
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == (456 + 2416 + 48120 + 10164 + 850 + 33)


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = build_model(3, 5), build_model(3, 5)
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_model(3, 6)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_accuracy_arithmetic():
    result = accuracy(torch.tensor([0, 1, 2, 2, 1, 0]), torch.tensor([0, 1, 1, 2, 0, 0]))
    assert result == {"correct": 4, "total": 6, "accuracy": pytest.approx(400 / 6)}
    assert result["accuracy"] != int(result["accuracy"])  # never truncated to whole percent
    assert math.isnan(accuracy(torch.tensor([]), torch.tensor([]))["accuracy"])


def test_predict_matches_argmax_of_logits_with_batches():
    model = build_model(3, 1)
    x = torch.randn(37, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
        phased_logits = PhasedModule2(model)(to_row_phases(x))
    assert torch.equal(predict(model, x, batch_size=8, phased=False), logits.argmax(1))
    # The CPU default scores in row phases: the same logits up to float32 rounding.
    assert torch.allclose(phased_logits, logits, rtol=1e-5, atol=1e-6)
    assert torch.equal(predict(model, x, batch_size=8), phased_logits.argmax(1))
    assert torch.equal(predict(model, x, batch_size=8), predict(model, x, batch_size=37))


def test_training_learns_and_is_reproducible():
    images, labels, _ = make_synthetic(60, seed=2)
    keep = labels < 3
    x = images[keep].float() / 127.5 - 1
    y = labels[keep]
    config = TrainConfig(lr=0.02, momentum=0.9, batch_size=16, outputs=3, restarts=0)
    state_a, losses_a = train_model(x, y, config, 3, 25)
    state_b, losses_b = train_model(x, y, config, 3, 25)
    assert len(losses_a) == 25 and losses_a == losses_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert losses_a[-1] < 0.5 * losses_a[0]
    model = Module2(3)
    model.load_state_dict(state_a)
    assert accuracy(predict(model, x), y)["accuracy"] > 90


def _pool_first(model, x):
    from mosaicfocus.what_network.fast import direct

    return model.fc4(direct.features(model, x))


@pytest.mark.parametrize("channels_last", [False, True])
def test_pool_before_relu_gives_the_protocol_values_and_gradients_bit_for_bit(channels_last):
    model = build_model(3, 4)
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x[:, :, :10] = -1.0  # flat areas: equal maxima inside pooling windows
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(64) % 3
    grads = []
    for forward in (Module2.forward, _pool_first):
        model.zero_grad()
        torch.nn.functional.cross_entropy(forward(model, x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    with torch.inference_mode():
        assert torch.equal(model(x), _pool_first(model, x))


def test_fast_pool_values_equal_max_pool2d():
    from mosaicfocus.what_network.fast.direct import max_pool_2x2_values

    x = torch.randn(8, 6, 28, 28)
    x[:, :, :4] = 0.5
    assert torch.equal(max_pool_2x2_values(x), torch.nn.functional.max_pool2d(x, 2))
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(max_pool_2x2_values(cl), torch.nn.functional.max_pool2d(cl, 2))


@pytest.mark.parametrize("phased", [False, True])
def test_training_resumed_from_a_saved_state_is_bit_identical(tmp_path, phased):
    from mosaicfocus.artifacts import load_artifact, save_artifact
    from mosaicfocus.what_network.training import TrainingState, train_epochs

    images, labels, _ = make_synthetic(40, seed=4)
    keep = labels < 3
    x, y = images[keep].float() / 127.5 - 1, labels[keep]
    config = TrainConfig(lr=0.02, momentum=0.9, batch_size=16, outputs=3, restarts=0)
    straight = train_epochs(x, y, config, 9, 5, phased=phased)
    half = train_epochs(x, y, config, 9, 2, phased=phased)
    assert half.epoch == 2 and len(half.losses) == 2 and half.momentum
    tensors, meta = half.to_artifact()
    save_artifact(tmp_path / "state.pt", "training-state", tensors, meta=meta)
    tensors, meta = load_artifact(tmp_path / "state.pt", "training-state")
    resumed = train_epochs(x, y, config, 9, 5, phased=phased, resume=TrainingState.from_artifact(tensors, meta))
    assert (
        resumed.epoch == 5
        and resumed.losses == straight.losses
        and resumed.fc3_units_active == straight.fc3_units_active
    )
    for key in straight.model:
        assert torch.equal(resumed.model[key], straight.model[key]), key
    for key in straight.momentum:
        assert torch.equal(resumed.momentum[key], straight.momentum[key]), key
    with pytest.raises(ValueError, match="cannot train epochs 6..5"):
        train_epochs(x, y, config, 9, 5, resume=resumed)


def test_momentum_sgd_is_torch_sgd_bit_for_bit():
    from mosaicfocus.what_network.fast import MomentumSGD

    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    y = torch.arange(64) % 3
    models = [build_model(3, 5).to(memory_format=torch.channels_last) for _ in range(2)]
    ours = MomentumSGD(models[0].parameters(), lr=0.05, momentum=0.9)
    theirs = torch.optim.SGD(models[1].parameters(), lr=0.05, momentum=0.9, foreach=True)
    for step in range(4):
        for model, optimizer in zip(models, (ours, theirs)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[step * 16 : step * 16 + 16]), y[:16]).backward()
            optimizer.step()
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            assert torch.equal(a, b)
    for buffer, p in zip(ours.buffers, models[1].parameters()):
        assert torch.equal(buffer, theirs.state[p]["momentum_buffer"])
