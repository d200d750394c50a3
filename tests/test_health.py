"""Training health: the status rule on constructed cases, and restarts of a dead network."""

import math
from dataclasses import replace

import pytest
import torch

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.data.sources import make_synthetic
from mosaicfocus.seeds import derive_seed
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.health import abandoned_summary, first_dead_epoch, health_row, training_health
from mosaicfocus.what_network.model import build_model
from mosaicfocus.what_network.training import TrainConfig, TrainingState, attempt_seed, train_epochs

LN3 = math.log(3)
STRICT = TrainConfig(lr=0.02, momentum=0.9, batch_size=16, outputs=3, restarts=0)  # the study's protocol


def health(losses, fc3_units_active, **kwargs):
    defaults = {"classes": 3, "classes_predicted": 3, "train_accuracy": 90.0}
    return training_health(losses, fc3_units_active, **{**defaults, **kwargs})


def test_a_network_whose_fc3_units_all_fall_silent_is_dead_from_that_epoch():
    record = health([1.10, 1.099, 1.0986, 1.0986], [7, 3, 0, 0], classes_predicted=1, train_accuracy=33.4)
    assert record["status"] == "dead" and record["died_at_epoch"] == 3
    assert record["fc3_units_active"] == 0 and record["learning_epoch"] is None and record["attempts"] == 1


def test_a_live_network_still_near_ln_c_is_on_the_plateau():
    record = health([LN3 + 0.01, LN3, 0.96 * LN3], [9, 6, 4])
    assert record["status"] == "plateau" and record["died_at_epoch"] is None
    # Just below 95% of ln C counts as learned, and 90% marks the epoch it left the plateau.
    record = health([LN3, 0.94 * LN3, 0.89 * LN3, 0.5], [9, 6, 4, 4])
    assert record["status"] == "learned" and record["learning_epoch"] == 3
    assert record["final_loss"] == 0.5 and record["min_loss"] == 0.5


def test_the_plateau_is_measured_against_ln_of_the_number_of_classes():
    # 0.9 is well below ln 3 (1.0986) but above 95% of ln 2 (0.658): a plateau for two classes.
    assert health([0.9], [5], classes=3)["status"] == "learned"
    assert health([0.9], [5], classes=2)["status"] == "plateau"


def test_a_diverged_network_is_dead():
    assert first_dead_epoch([1.0, float("nan")], [5, 5]) == 2
    assert health([1.0, float("inf")], [5, 5])["status"] == "dead"


def test_health_needs_one_count_per_epoch():
    with pytest.raises(ValueError, match="one loss and one active-unit count per epoch"):
        health([1.0, 0.9], [5])


def test_health_row_summarises_abandoned_attempts():
    abandoned = [
        {
            "attempt": 1,
            "seed": 11,
            "epoch": 4,
            "reason": "dead: no fc3 unit active",
            "losses": [],
            "fc3_units_active": [],
        }
    ]
    record = health([0.5], [8], abandoned=abandoned)
    assert record["attempts"] == 2 and record["abandoned"] == [
        {"attempt": 1, "seed": 11, "epoch": 4, "reason": "dead: no fc3 unit active"}
    ]
    row = health_row(2, 5, record)
    assert row["replicate"] == 2 and row["trained_on"] == 5 and row["status"] == "learned"
    assert row["abandoned"] == "attempt 1 (seed 11) dead at epoch 4" == abandoned_summary(abandoned)


def easy_data():
    images, labels, _ = make_synthetic(40, seed=4)
    keep = labels < 3
    return images[keep].float() / 127.5 - 1, labels[keep]


def dead_state(seed: int) -> TrainingState:
    """Attempt 1 after its first epoch, with every fc3 unit pushed far below zero."""
    model = build_model(3, derive_seed(seed, "init"))
    with torch.no_grad():
        model.fc3.bias.fill_(-1e4)
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    torch.randperm(120, generator=shuffle)
    return TrainingState(
        epoch=1, model=model.state_dict(), momentum={}, shuffle=shuffle.get_state(), losses=[LN3], fc3_units_active=[10]
    )


def test_a_trained_tiny_model_is_learned():
    x, y = easy_data()
    state = train_epochs(x, y, STRICT, 9, 20)
    model = build_model(3, 0)
    model.load_state_dict(state.model)
    predictions = predict(model, x)
    record = health(
        state.losses,
        state.fc3_units_active,
        classes_predicted=predictions.unique().numel(),
        train_accuracy=accuracy(predictions, y)["accuracy"],
    )
    assert record["status"] == "learned", (state.losses, state.fc3_units_active)
    assert record["fc3_units_active"] > 0 and record["classes_predicted"] == 3 and record["train_accuracy"] > 60


def test_without_restarts_a_dead_network_is_kept_and_stays_dead():
    x, y = easy_data()
    state = train_epochs(x, y, STRICT, 9, 4, resume=dead_state(9))
    assert state.attempt == 1 and state.abandoned == [] and state.fc3_units_active == [10, 0, 0, 0]
    assert health(state.losses, state.fc3_units_active)["status"] == "dead"


def test_a_dead_network_is_restarted_from_epoch_one_with_the_next_attempts_seed():
    x, y = easy_data()
    lines = []
    config = replace(STRICT, restarts=2)
    state = train_epochs(x, y, config, 9, 20, resume=dead_state(9), log=lines.append)
    assert state.attempt == 2 and state.epoch == 20 and len(state.losses) == len(state.fc3_units_active) == 20
    (abandoned,) = state.abandoned
    assert abandoned["attempt"] == 1 and abandoned["seed"] == 9 and abandoned["epoch"] == 2
    assert abandoned["reason"] == "dead: no fc3 unit active on any training image in epoch 2"
    assert abandoned["fc3_units_active"] == [10, 0] and len(abandoned["losses"]) == 2
    assert any("attempt 1 (seed 9) abandoned at epoch 2" in line for line in lines)
    assert any(f"attempt 2: re-initialised with seed {attempt_seed(9, 2)}, from epoch 1" in line for line in lines)
    # Attempt 2 is a fresh training with its own seed: the same as training that seed from scratch.
    fresh = train_epochs(x, y, STRICT, attempt_seed(9, 2), 20)
    assert state.losses == fresh.losses
    assert all(torch.equal(state.model[k], fresh.model[k]) for k in fresh.model)
    assert health(state.losses, state.fc3_units_active, abandoned=state.abandoned)["status"] == "learned"


def test_attempt_seeds_are_derived_from_the_models_seed_and_the_attempt():
    assert attempt_seed(9, 1) == 9
    seeds = {attempt_seed(9, k) for k in range(2, 6)} | {attempt_seed(10, 2)}
    assert len(seeds) == 5 and 9 not in seeds


@pytest.mark.parametrize("phased", [False, True])
def test_a_restart_inside_a_later_job_gives_the_same_bits_as_one_job(tmp_path, phased):
    """Death in the job that resumes at epoch 2: it trains the new attempt to its own end,
    and splitting that training again into jobs changes nothing."""
    x, y = easy_data()
    config = replace(STRICT, restarts=1)
    straight = train_epochs(x, y, config, 9, 6, phased=phased, resume=dead_state(9))
    first = train_epochs(x, y, config, 9, 4, phased=phased, resume=dead_state(9))
    assert first.attempt == 2 and first.epoch == 4
    tensors, meta = first.to_artifact()
    save_artifact(tmp_path / "state.pt", "training-state", tensors, meta=meta)
    resumed = TrainingState.from_artifact(*load_artifact(tmp_path / "state.pt", "training-state"))
    second = train_epochs(x, y, config, 9, 6, phased=phased, resume=resumed)
    assert second.attempt == straight.attempt == 2
    assert second.abandoned == straight.abandoned
    assert second.losses == straight.losses and second.fc3_units_active == straight.fc3_units_active
    for key in straight.model:
        assert torch.equal(second.model[key], straight.model[key]), key
    # A state saved when the count was called "alive" resumes to the same bits.
    tensors["alive"] = tensors.pop("fc3_units_active")
    meta["abandoned"] = [
        {"alive" if k == "fc3_units_active" else k: v for k, v in a.items()} for a in meta["abandoned"]
    ]
    older = train_epochs(x, y, config, 9, 6, phased=phased, resume=TrainingState.from_artifact(tensors, meta))
    assert older.abandoned == straight.abandoned and older.fc3_units_active == straight.fc3_units_active
    assert all(torch.equal(older.model[k], straight.model[k]) for k in straight.model)


def test_the_same_seed_gives_the_same_attempts_and_weights_twice():
    x, y = easy_data()
    config = replace(STRICT, restarts=3)
    first, second = (train_epochs(x, y, config, 9, 5, resume=dead_state(9)) for _ in range(2))
    assert first.abandoned == second.abandoned and first.attempt == second.attempt == 2
    assert first.losses == second.losses and first.fc3_units_active == second.fc3_units_active
    assert all(torch.equal(first.model[k], second.model[k]) for k in first.model)
