"""The authors' terms as options (train.dtype, train.stop_loss): the stop rule on constructed
losses, float64 training bit-stable and resumable, a stopped model's records, the sweep and
the schema. The defaults (float32, no stop) are the other tests' subject and stay as they were."""

import copy
import json
import math
from dataclasses import replace

import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, TINY_CONFIG, snakemake
from test_health import dead_state, easy_data
from test_lockstep import SEEDS, assert_same_bits

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.runplan.configcheck import check_config, validate_config
from mosaicfocus.runplan.plan import Plan
from mosaicfocus.seeds import derive_seed
from mosaicfocus.what_network.evaluation import predict
from mosaicfocus.what_network.health import training_health
from mosaicfocus.what_network.lockstep import train_lockstep
from mosaicfocus.what_network.losstable import read_loss_table, write_loss_table
from mosaicfocus.what_network.model import Module2, build_model
from mosaicfocus.what_network.modelfiles import model_health
from mosaicfocus.what_network.stoprule import epoch_running_loss, running_means, stops
from mosaicfocus.what_network.training import TrainConfig, TrainingState, _fresh_state, restored_model, train_epochs

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
# 120 images in mini-batches of 8: 15 a epoch, one group of ten and a trailing five the rule leaves out.
CONFIG = TrainConfig(lr=0.02, momentum=0.9, batch_size=8, outputs=3, restarts=0)
EPOCHS = 12
NEVER = 1e-300  # a stop rule that records the authors' losses but never fires


# ---------------------------------------------------------------- the rule on constructed losses


def test_the_epoch_loss_is_the_mean_of_the_running_means_of_every_ten_mini_batches():
    # 40 mini-batches as 10,000 images in 256s make (the 40th holds 16 images and counts like any
    # other); dyadic losses keep every sum exact.
    losses = [0.5] * 10 + [0.25] * 10 + [0.125] * 9 + [1.0] + [0.0625] * 10
    assert running_means(losses) == [0.5, 0.25, (9 * 0.125 + 1.0) / 10, 0.0625]
    assert epoch_running_loss(losses) == (0.5 + 0.25 + 0.2125 + 0.0625) / 4
    # A trailing group of fewer than ten is never counted, whatever its losses.
    assert epoch_running_loss(losses + [100.0] * 9) == epoch_running_loss(losses)
    assert running_means(losses + [100.0] * 10)[-1] == 100.0
    # Fewer than ten mini-batches: no group, and a NaN never stops training.
    assert math.isnan(epoch_running_loss([0.0] * 9)) and not stops(math.nan, 1.0)


def test_our_loss_table_weights_each_mini_batch_by_its_images_theirs_does_not():
    losses = [0.5] * 39 + [0.25]
    sizes = [256] * 39 + [16]  # 10,000 images
    ours = sum(loss * n for loss, n in zip(losses, sizes)) / sum(sizes)
    theirs = epoch_running_loss(losses)
    assert theirs == (0.5 * 39 + 0.25) / 40 and ours == (0.5 * 9984 + 0.25 * 16) / 10000 and theirs < ours
    # Equal mini-batches and no trailing group: the same mean.
    assert epoch_running_loss([0.5] * 20 + [0.25] * 20) == 0.375


def test_training_stops_after_the_first_epoch_at_or_below_stop_loss():
    epochs = [[1.0] * 40, [0.5] * 40, [2**-10] * 40, [2**-12] * 40]
    means = [epoch_running_loss(batches) for batches in epochs]
    assert [stops(m, 2**-10) for m in means] == [False, False, True, True]  # <=, as theirs
    assert next(e for e, m in enumerate(means, 1) if stops(m, 0.5)) == 2
    assert not any(stops(m, None) for m in means)
    # Their arithmetic, rounding included: ten losses of 0.001 sum to 0.010000000000000002,
    # so an epoch of nothing but 0.001 does not meet their 0.001.
    assert epoch_running_loss([0.001] * 40) == 0.0010000000000000002 and not stops(0.0010000000000000002, 0.001)


# ---------------------------------------------------------------- training with the rule


@pytest.fixture(scope="module")
def data():
    return easy_data()


@pytest.fixture(scope="module")
def full(data):
    """EPOCHS epochs with the authors' losses recorded and no stop."""
    return train_epochs(*data, replace(CONFIG, stop_loss=NEVER), 9, EPOCHS)


def stop_point(running_losses: list[float]) -> tuple[int, float]:
    """An epoch from 4 to EPOCHS - 3 whose loss is below every earlier one's, and a stop_loss
    halfway between, which stops there (with room for rounding)."""
    stop = next(e for e in range(4, EPOCHS - 2) if running_losses[e - 1] < min(running_losses[: e - 1]))
    return stop, (running_losses[stop - 1] + min(running_losses[: stop - 1])) / 2


def test_recording_the_authors_losses_changes_no_bit(data, full):
    plain = train_epochs(*data, CONFIG, 9, EPOCHS)
    assert_same_bits(plain.model, full.model)
    assert plain.losses == full.losses and plain.running_losses == [] and full.stopped_at is None
    assert len(full.running_losses) == EPOCHS
    # One group of ten of the fifteen mini-batches: close to, not equal to, our all-batch mean.
    assert full.running_losses == pytest.approx(full.losses, rel=0.5)


def test_a_stopped_network_keeps_the_weights_and_losses_of_the_epoch_it_stopped_after(data, full):
    stop, stop_loss = stop_point(full.running_losses)
    config = replace(CONFIG, stop_loss=stop_loss)
    lines = []
    state = train_epochs(*data, config, 9, EPOCHS, log=lines.append)
    assert state.stopped_at == stop < EPOCHS and state.epoch == EPOCHS  # the schedule went on
    assert state.losses == full.losses[:stop] and state.running_losses == full.running_losses[:stop]
    assert len(state.fc3_units_active) == stop
    assert_same_bits(state.model, train_epochs(*data, CONFIG, 9, stop).model)
    assert any(f"stopped after epoch {stop}: loss by the authors' rule" in line for line in lines)


def test_resuming_in_chunks_honours_the_stop_bit_for_bit(data, full, tmp_path):
    stop, stop_loss = stop_point(full.running_losses)
    config = replace(CONFIG, stop_loss=stop_loss)
    straight = train_epochs(*data, config, 9, EPOCHS)
    state, lines = None, []
    for end in (stop - 1, stop + 1, EPOCHS - 1, EPOCHS):  # ends before, just after, and well after the stop
        state = train_epochs(*data, config, 9, end, resume=state, log=lines.append)
        tensors, meta = state.to_artifact()
        save_artifact(tmp_path / "state.pt", "training-state", tensors, meta=meta)
        state = TrainingState.from_artifact(*load_artifact(tmp_path / "state.pt", "training-state"))
        assert state.epoch == end and state.stopped_at == (None if end < stop else stop)
    assert_same_bits(state.model, straight.model)
    assert_same_bits(state.momentum, straight.momentum)
    assert state.losses == straight.losses and state.running_losses == straight.running_losses
    assert torch.equal(state.shuffle, straight.shuffle)
    assert sum("carry it" in line for line in lines) == 2  # the chunks after the stop train nothing


def test_a_stopped_models_records(data, full, tmp_path):
    stop, stop_loss = stop_point(full.running_losses)
    state = train_epochs(*data, replace(CONFIG, stop_loss=stop_loss), 9, EPOCHS)
    model = Module2(3)
    model.load_state_dict(state.model)
    health = model_health(state, predict(model, data[0]), data[1], classes=3)
    assert health["stopped_at_epoch"] == stop and health["final_loss"] == full.losses[stop - 1]
    assert health["running_losses"] == full.running_losses[:stop]
    write_loss_table(tmp_path / "loss.tsv", state)
    table = read_loss_table(tmp_path / "loss.tsv")
    assert list(table["epoch"]) == list(range(1, stop + 1)) and list(table["loss"]) == state.losses
    # Without a stop rule the record keeps its old keys.
    plain = training_health([1.0, 0.5], [5, 5], classes=3, classes_predicted=3, train_accuracy=90.0)
    assert "stopped_at_epoch" not in plain and "running_losses" not in plain
    assert "running_losses" not in _fresh_state(1).to_artifact()[0]


def test_a_stop_counts_only_after_the_health_check(data):
    """A network dead in an epoch is restarted (or, with no restart left, kept to the end) even
    when its loss meets stop_loss: a stop_loss above ln 3 would otherwise stop it at once."""
    kept = train_epochs(*data, replace(CONFIG, stop_loss=10.0), 9, 4, resume=dead_state(9))
    assert kept.stopped_at is None and kept.fc3_units_active[1:] == [0, 0, 0]
    restarted = train_epochs(*data, replace(CONFIG, stop_loss=10.0, restarts=1), 9, 4, resume=dead_state(9))
    assert restarted.attempt == 2 and restarted.stopped_at == 1 and len(restarted.losses) == 1


# ---------------------------------------------------------------- float64


@pytest.fixture(scope="module")
def double(data):
    return train_epochs(*data, replace(CONFIG, dtype="float64"), 9, 6)


def test_float64_training_is_bit_stable_and_resumable_in_chunks(data, double, tmp_path):
    config = replace(CONFIG, dtype="float64")
    assert all(t.dtype == torch.float64 for t in [*double.model.values(), *double.momentum.values()])
    assert_same_bits(train_epochs(*data, config, 9, 6).model, double.model)
    first = train_epochs(*data, config, 9, 2)
    tensors, meta = first.to_artifact()
    save_artifact(tmp_path / "state.pt", "training-state", tensors, meta=meta)
    resumed = TrainingState.from_artifact(*load_artifact(tmp_path / "state.pt", "training-state"))
    second = train_epochs(*data, config, 9, 4, resume=resumed)
    last = train_epochs(*data, config, 9, 6, resume=second)
    assert_same_bits(last.model, double.model)
    assert_same_bits(last.momentum, double.momentum)
    assert last.losses == double.losses and torch.equal(last.shuffle, double.shuffle)


def test_float64_draws_the_float32_initialisation_and_is_not_float32(data, double):
    config = replace(CONFIG, dtype="float64")
    start = restored_model(_fresh_state(1), config, 9)
    assert_same_bits(start.state_dict(), build_model(3, derive_seed(9, "init")).double().state_dict())
    single = train_epochs(*data, CONFIG, 9, 6)
    assert double.losses != single.losses  # another arithmetic...
    assert double.losses == pytest.approx(single.losses, rel=1e-3)  # ...of the same function and draws
    with pytest.raises(ValueError, match="row phases are float32 only"):
        train_epochs(*data, config, 9, 1, phased=True)


def test_a_float64_model_is_loaded_and_scored_in_float64(data, double):
    model = Module2(3)
    model.load_state_dict(double.model)
    assert model.fc4.weight.dtype == torch.float64 and torch.equal(model.fc4.weight, double.model["fc4.weight"])
    predicted = predict(model, data[0])
    with torch.no_grad():
        assert torch.equal(predicted, model(data[0].double()).argmax(1))
    rounded = Module2(3)
    rounded.load_state_dict({k: v.float() for k, v in double.model.items()})
    assert rounded.fc4.weight.dtype == torch.float32  # float32 weights stay float32


# ---------------------------------------------------------------- the lock-step path


def test_lockstep_honours_the_stop_and_float64(data):
    x, y = data
    datasets = [(x * (1 - 0.1 * k), y) for k in range(len(SEEDS))]
    recorded = train_lockstep(datasets, replace(CONFIG, stop_loss=NEVER), SEEDS, EPOCHS)
    network = 0
    stop, stop_loss = stop_point(recorded[network].running_losses)
    config = replace(CONFIG, stop_loss=stop_loss)
    states = train_lockstep(datasets, config, SEEDS, EPOCHS)
    assert states[network].stopped_at == stop and states[network].epoch == EPOCHS
    assert states[network].losses == recorded[network].losses[:stop]
    # Trained to the stop epoch and no further (recording changes no bit: tested above for one network).
    early = train_lockstep(datasets, config, SEEDS, stop)
    assert early[network].stopped_at == stop
    assert_same_bits(states[network].model, early[network].model)
    assert_same_bits(states[network].momentum, early[network].momentum)
    # Chunks: the stopped network is carried, the others go on as in one job.
    finished = train_lockstep(datasets, config, SEEDS, EPOCHS, resume=early)
    for a, b in zip(finished, states):
        assert_same_bits(a.model, b.model)
        assert a.stopped_at == b.stopped_at and a.losses == b.losses
    # The single trainer stops the same network at the same epoch (the same losses up to rounding).
    assert train_epochs(*datasets[network], config, SEEDS[network], stop, phased=False).stopped_at == stop
    doubled = train_lockstep(datasets, replace(CONFIG, dtype="float64"), SEEDS, 2)
    assert doubled[0].model["conv1.weight"].dtype == torch.float64
    alone = train_epochs(*datasets[0], replace(CONFIG, dtype="float64"), SEEDS[0], 2)
    assert doubled[0].losses == pytest.approx(alone.losses, rel=1e-12)


# ---------------------------------------------------------------- configuration


def tiny(**train) -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["train"].update(train)
    return config


@pytest.mark.parametrize(
    "train, expected",
    [
        ({"dtype": "float16"}, "train.dtype: 'float16' is not allowed; use one of ['float32', 'float64']"),
        ({"dtype": 64}, "train.dtype: 64 is not of type string"),
        ({"stop_loss": 0}, "train.stop_loss: 0 is out of range; it must be > 0"),
        ({"stop_loss": -0.001}, "train.stop_loss: -0.001 is out of range; it must be > 0"),
        ({"stop_loss": "low"}, "train.stop_loss: 'low' is not of type ['number', 'null']"),
    ],
)
def test_the_schema_refuses_bad_values_by_name(train, expected):
    assert expected in validate_config(tiny(**train), SCHEMA)


def test_defaults_and_command_line_values():
    config = tiny()
    assert validate_config(config, SCHEMA) == []
    assert config["train"]["dtype"] == "float32" and config["train"]["stop_loss"] is None
    config = tiny(stop_loss="0.001", dtype="float64")  # --config train='{stop_loss: 0.001}' gives text
    assert validate_config(config, SCHEMA) == [] and config["train"]["stop_loss"] == 0.001


def test_the_where_network_refuses_both_with_the_fix():
    config = tiny(dtype="float64", stop_loss=0.001)
    config["attention"] = {"enabled": True}
    problems = check_config(config, SCHEMA)
    assert len(problems) == 2
    assert problems[0].startswith("train.dtype: 'float64' is not implemented for the where network")
    assert "set train.dtype: float32, or attention.enabled: false" in problems[0]
    assert "set train.stop_loss: null, or attention.enabled: false" in problems[1]


def test_default_train_settings_are_the_old_ones_and_set_keys_reach_the_jobs():
    config = tiny()
    assert check_config(config, SCHEMA) == []
    assert Plan(config).train_settings("") == {
        "outputs": 3,
        "lr": 0.02,
        "momentum": 0.9,
        "batch_size": 32,
        "restarts": 3,
    }
    config = tiny(dtype="float64", stop_loss=0.001)
    assert check_config(config, SCHEMA) == []
    settings = Plan(config).train_settings("")
    assert settings["dtype"] == "float64" and settings["stop_loss"] == 0.001
    assert TrainConfig(**settings).torch_dtype == torch.float64


def test_a_stop_loss_sweep_plans_one_point_per_value_sharing_the_data():
    config = tiny()
    config["sweep"] = {"train.stop_loss": [None, 0.001, 0.1], "train.dtype": ["float32", "float64"]}
    assert check_config(config, SCHEMA) == []
    plan = Plan(config)
    assert len(plan.points) == 6 and plan.points[:2] == [
        "sweep/train.stop_loss~None/train.dtype~float32/",
        "sweep/train.stop_loss~None/train.dtype~float64/",
    ]
    for point in plan.points:
        assert plan.stage_point(point, "datasets") == "" and plan.stage_point(point, "train") == point
    point = "sweep/train.stop_loss~0.1/train.dtype~float64/"
    assert plan.train_settings(point) == {**plan.train_settings(plan.points[0]), "dtype": "float64", "stop_loss": 0.1}
    assert "stop_loss" not in plan.train_settings(plan.points[1])
    bad = tiny()
    bad["sweep"] = {"train.stop_loss": [0.01, -1]}
    assert check_config(bad, SCHEMA) == ["sweep: train.stop_loss: -1 is out of range; it must be > 0"]
    with_attention = copy.deepcopy(tiny())
    with_attention.update(attention={"enabled": True}, sweep={"train.stop_loss": [0.01]})
    (problem,) = check_config(with_attention, SCHEMA)
    assert problem.startswith("sweep: train.stop_loss: 0.01 is not implemented for the where network")


# ---------------------------------------------------------------- the workflow


@pytest.mark.slow
def test_a_float64_run_with_the_stop_rule_in_chunks(tmp_path):
    """The tiny run in float64 with a stop, trained in jobs of 10 epochs: every model's record
    names the epoch it stopped after (or none), its loss table ends there, its weights are
    float64, and the health table has the column."""
    snakemake(tmp_path, "--config", "train={dtype: float64, stop_loss: 0.2, epochs_per_job: 10}")
    results = tmp_path / "results"
    stopped = {}
    for focus in range(1, 10):
        record = json.loads((results / "models" / f"model_{focus}.json").read_text())
        meta = record["meta"]
        assert meta["train"]["dtype"] == "float64" and meta["train"]["stop_loss"] == 0.2
        assert {check["dtype"] for check in record["checks"].values()} == {"float64"}
        stop = stopped[focus] = meta["health"]["stopped_at_epoch"]
        losses = read_loss_table(results / "models" / f"loss_{focus}.tsv")
        kept = losses[losses["attempt"] == meta["health"]["attempts"]]
        assert len(kept) == (30 if stop is None else stop) == len(meta["health"]["running_losses"])
        if stop is not None:
            assert meta["health"]["running_losses"][-1] <= 0.2 < min(meta["health"]["running_losses"][:-1], default=1)
    assert None in stopped.values(), stopped
    health = pd.read_csv(results / "training_health.csv")
    assert {
        row.trained_on: None if pd.isna(row.stopped_at_epoch) else row.stopped_at_epoch for row in health.itertuples()
    } == stopped
    # A model that stopped in the first or second job: the final job carried its state.
    carried = [focus for focus, stop in stopped.items() if stop is not None and stop <= 20]
    assert carried, stopped
    for focus in carried:
        assert "carry it" in (results / "logs" / f"train_{focus}.log").read_text()
    assert json.loads((results / "eval" / "train9_test10.json").read_text())["train"]["dtype"] == "float64"
