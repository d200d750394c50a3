"""The lock-step trainer (the GPU path) against the single-model trainer, on the CPU."""

from contextlib import ExitStack
from dataclasses import replace

import pytest
import torch
from test_health import LN3, STRICT, dead_state, easy_data
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.what_network import fast
from mosaicfocus.what_network.lockstep import lockstep_step, train_lockstep
from mosaicfocus.what_network.model import build_model
from mosaicfocus.what_network.training import TrainingState, _restore, attempt_seed, train_epochs

SEEDS = [11, 12, 13]
EPOCHS = 12
# The two trainers differ by float32 rounding alone (grouped convolutions and batched
# products sum in another order), and training amplifies it once a network leaves the
# plateau: after 12 epochs of 8 steps (AVX-512) weights differed by at most 2.2e-5 and
# losses by 4e-7 relative; by epoch 20 the chaos of leaving the plateau makes it 0.07.
WEIGHT_TOLERANCE = 2e-4
LOSS_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def datasets():
    x, y = easy_data()
    # Three different datasets of one size, as the nine focus levels are.
    return [(x * (1 - 0.1 * k), y) for k in range(len(SEEDS))]


@pytest.fixture(scope="module")
def lockstep(datasets):
    return train_lockstep(datasets, STRICT, SEEDS, EPOCHS)


def single(datasets, k, **kwargs):
    x, y = datasets[k]
    return train_epochs(x, y, STRICT, SEEDS[k], EPOCHS, phased=False, **kwargs)


def assert_same_bits(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_initial_weights_and_gathered_batches_are_the_single_models_bit_for_bit(datasets):
    models = [build_model(3, seed) for seed in SEEDS]
    stacked = fast.StackedModule2(models)
    for k, model in enumerate(models):
        assert_same_bits(stacked.state_dict_of(k), model.state_dict())
    batches = fast.StackedBatches([x for x, _ in datasets], "cpu")
    index = torch.stack([torch.randperm(len(batches), generator=torch.Generator().manual_seed(s)) for s in SEEDS])
    gathered = batches[index[:, :7]].view(7, len(SEEDS), 3, 32, 32)
    for k, (x, _) in enumerate(datasets):
        assert torch.equal(gathered[:, k], x[index[k, :7]])


def test_one_step_computes_each_networks_own_loss_and_gradient(datasets):
    models = [build_model(3, seed) for seed in SEEDS]
    stacked = fast.StackedModule2(models)
    batches = fast.StackedBatches([x for x, _ in datasets], "cpu")
    index = torch.arange(16).repeat(len(SEEDS), 1)
    logits, features = stacked(batches[index])
    for k, (x, _) in enumerate(datasets):
        assert torch.allclose(logits[k], models[k](x[:16]), atol=1e-6)
        assert torch.allclose(features[k], models[k].features(x[:16]), atol=1e-6)


def test_stacked_sgd_is_momentum_sgd_bit_for_bit_network_by_network():
    torch.manual_seed(0)
    params = [torch.randn(3, 5, 4), torch.randn(3, 7)]
    alone = [[p[k].clone() for p in params] for k in range(3)]
    stacked = fast.StackedMomentumSGD([p.clone() for p in params], lr=0.01, momentum=0.9)
    singles = [fast.MomentumSGD(a, lr=0.01, momentum=0.9) for a in alone]
    for step in range(4):
        grads = [torch.randn_like(p) for p in params]
        for p, g in zip(stacked.params, grads):
            p.grad = g.clone()
        if step == 2:  # network 1 restarted: its next step starts a new momentum buffer
            stacked.fresh.add(1)
            singles[1].buffers = [None] * len(params)
        stacked.step()
        for k, optimizer in enumerate(singles):
            for p, g in zip(optimizer.params, grads):
                p.grad = g[k].clone()
            optimizer.step()
    for k, optimizer in enumerate(singles):
        for stacked_param, param in zip(stacked.params, optimizer.params):
            assert torch.equal(stacked_param[k], param)


def test_lockstep_training_is_the_single_trainer_up_to_rounding(datasets, lockstep):
    for k, state in enumerate(lockstep):
        alone = single(datasets, k)
        assert state.epoch == alone.epoch == EPOCHS and state.attempt == alone.attempt == 1
        # The same shuffle generator, drawn as often: the same batch orders.
        assert torch.equal(state.shuffle, alone.shuffle)
        assert state.losses == pytest.approx(alone.losses, rel=LOSS_TOLERANCE)
        assert state.fc3_units_active == alone.fc3_units_active
        for name in alone.model:
            assert torch.allclose(state.model[name], alone.model[name], atol=WEIGHT_TOLERANCE, rtol=0), name
            assert torch.allclose(state.momentum[name], alone.momentum[name], atol=WEIGHT_TOLERANCE, rtol=0), name
    # The networks did learn: the comparison is not between three untouched initialisations.
    assert sum(s.losses[-1] < 0.9 * LN3 for s in lockstep) >= 2


def test_changing_one_networks_data_or_seed_leaves_the_others_bit_identical(datasets, lockstep):
    x, y = datasets[1]
    other_data = list(datasets)
    other_data[1] = (x.flip(0), y.flip(0))
    other_seed = [SEEDS[0], SEEDS[1], 99]
    for changed, (data, seeds) in {1: (other_data, SEEDS), 2: (datasets, other_seed)}.items():
        states = train_lockstep(data, STRICT, seeds, EPOCHS)
        for k in range(len(SEEDS)):
            if k == changed:
                assert not torch.equal(states[k].model["fc4.weight"], lockstep[k].model["fc4.weight"])
            else:
                assert_same_bits(states[k].model, lockstep[k].model)
                assert states[k].losses == lockstep[k].losses


def test_a_restart_in_one_network_leaves_the_others_untouched(datasets):
    config = replace(STRICT, restarts=2)
    # All three resume after epoch 1; network 1's state has every fc3 unit pushed far below zero.
    healthy = [dead_state(seed) for seed in SEEDS]
    for state, seed in zip(healthy, SEEDS):
        state.model = build_model(3, seed).state_dict()
    resumed = list(healthy)
    resumed[1] = dead_state(SEEDS[1])
    lines = []
    states = train_lockstep(datasets, config, SEEDS, EPOCHS, resume=resumed, log=lines.append)
    reference = train_lockstep(datasets, config, SEEDS, EPOCHS, resume=healthy)
    for k in (0, 2):
        assert states[k].attempt == 1 and states[k].abandoned == []
        assert_same_bits(states[k].model, reference[k].model)
        assert states[k].losses == reference[k].losses
    restarted = states[1]
    alone = train_epochs(*datasets[1], config, SEEDS[1], EPOCHS, resume=dead_state(SEEDS[1]), phased=False)
    assert restarted.attempt == alone.attempt == 2 and restarted.epoch == EPOCHS
    assert [a["seed"] for a in restarted.abandoned] == [a["seed"] for a in alone.abandoned] == [SEEDS[1]]
    assert restarted.abandoned[0]["epoch"] == alone.abandoned[0]["epoch"] == 2
    assert torch.equal(restarted.shuffle, alone.shuffle)
    # Its 12 epochs differ more than the fixture's by the end (a different path off the plateau).
    assert restarted.losses[:8] == pytest.approx(alone.losses[:8], rel=LOSS_TOLERANCE)
    assert any(f"attempt 2: re-initialised with seed {attempt_seed(SEEDS[1], 2)}" in line for line in lines)


def test_resuming_lockstep_training_gives_the_same_bits_as_never_stopping(datasets, lockstep, tmp_path):
    early = train_lockstep(datasets, STRICT, SEEDS, 2)
    reloaded = []
    for k, state in enumerate(early):
        tensors, meta = state.to_artifact()
        save_artifact(tmp_path / f"state{k}.pt", "training-state", tensors, meta=meta)
        reloaded.append(TrainingState.from_artifact(*load_artifact(tmp_path / f"state{k}.pt", "training-state")))
    finished = train_lockstep(datasets, STRICT, SEEDS, EPOCHS, resume=reloaded)
    for state, straight in zip(finished, lockstep):
        assert_same_bits(state.model, straight.model)
        assert_same_bits(state.momentum, straight.momentum)
        assert state.losses == straight.losses and torch.equal(state.shuffle, straight.shuffle)


class RefuseSyncingOps(TorchDispatchMode):
    """Fails on every ATen operation that reads a value back from the device."""

    SYNCING = {"_local_scalar_dense", "item", "is_nonzero", "nonzero"}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in self.SYNCING:
            raise AssertionError(f"device-to-host sync in a training step: {func}")
        return func(*args, **(kwargs or {}))


class RefuseHostCopies(TorchFunctionMode):
    """Fails on every tensor method that hands its values to the host. On a GPU each waits for the
    device; on the CPU, where this stand-in runs, ``.tolist()``, ``.cpu()`` and ``.numpy()`` reach
    no ATen op that says so (``.cpu()`` none at all), so only the Python call shows them."""

    COPYING = {"tolist", "cpu", "numpy", "item"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) in self.COPYING:
            raise AssertionError(f"device-to-host sync in a training step: Tensor.{func.__name__}")
        return func(*args, **(kwargs or {}))


class RefuseDeviceSync:
    """The CPU stand-in for a training step that never waits for the device: both checks above,
    as one context (bench/gpu_check.py's guard of a whole epoch, in test_gpu_check)."""

    def __enter__(self):
        self._checks = ExitStack()
        self._checks.enter_context(RefuseHostCopies())
        self._checks.enter_context(RefuseSyncingOps())
        return self

    def __exit__(self, *exc):
        return self._checks.__exit__(*exc)


@pytest.mark.parametrize(
    "sync",
    [
        lambda x: x.sum().item(),
        lambda x: x.tolist(),
        lambda x: x.cpu(),
        lambda x: x.numpy(),
        lambda x: float(x.sum()),
        lambda x: bool(x.sum() > 0),
        lambda x: x.nonzero(),
    ],
    ids=["item", "tolist", "cpu", "numpy", "float", "bool", "nonzero"],
)
def test_refuse_device_sync_catches_a_sync(sync):
    x = torch.ones(3)
    with pytest.raises(AssertionError, match="device-to-host sync"), RefuseDeviceSync():
        sync(x)
    with RefuseDeviceSync():
        (x * 2).sum(0).add_(1)  # work that stays on the device passes


def test_a_lockstep_step_never_waits_for_the_device(datasets):
    stacked = fast.StackedModule2([build_model(3, seed) for seed in SEEDS])
    optimizer = fast.StackedMomentumSGD(stacked.parameters(), lr=0.01, momentum=0.9)
    batches = fast.StackedBatches([x for x, _ in datasets], "cpu")
    labels = torch.stack([y for _, y in datasets])
    index = torch.stack([torch.randperm(len(batches)) for _ in SEEDS])[:, :16]
    for _ in range(2):  # the first step (fresh momentum) and a later one
        with RefuseDeviceSync():
            losses, _ = lockstep_step(stacked, optimizer, batches[index], labels.gather(1, index))
    assert losses.shape == (len(SEEDS),)


def test_parameters_gradients_and_momentum_share_strides_after_a_resume(datasets):
    x, y = datasets[0]
    state = train_epochs(x, y, STRICT, SEEDS[0], 1)
    model, optimizer, _ = _restore(state, STRICT, SEEDS[0], torch.device("cpu"))
    features = fast.features_of(model, "cpu", phased=False)
    torch.nn.functional.cross_entropy(model.fc4(features(x[:16])), y[:16]).backward()
    optimizer.step()
    assert model.conv1.weight.stride() != torch.empty_like(model.conv1.weight).contiguous().stride()  # channels_last
    for param, buffer in zip(optimizer.params, optimizer.buffers):
        assert param.stride() == param.grad.stride() == buffer.stride()
