"""The where network: focus metrics on constructed focus networks, the learned-focus blend against
datasets 1 and 10, and joint training (determinism, resume, restarts)."""

import math
from dataclasses import replace

import pytest
import torch

from mosaicfocus.artifacts import load_artifact, save_artifact
from mosaicfocus.data.datasets import _NORMALIZED, blend, focus_dataset, foregrounds
from mosaicfocus.data.mosaics import draw_mosaics
from mosaicfocus.data.sources import make_synthetic
from mosaicfocus.runplan.runs import stage_values, sweep_problems
from mosaicfocus.seeds import derive_seed
from mosaicfocus.what_network import fast
from mosaicfocus.what_network.evaluation import predict
from mosaicfocus.what_network.fast.mosaic import normalize_float32
from mosaicfocus.what_network.training import TrainConfig, attempt_seed
from mosaicfocus.where_network.attention import (
    AttentionState,
    attend,
    build_attention_model,
    focus_summary,
    focus_sums,
    forward,
    learned_focus_blend,
    normalized_tiles,
    score_mosaics,
    train_attention,
)

CONFIG = TrainConfig(lr=0.02, momentum=0.9, batch_size=16, outputs=3, restarts=0)
FOREGROUND, BACKGROUND = [0, 1, 2], list(range(3, 10))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread, as the workflow's jobs: the suite shares 2 cores, and OpenMP teams stall on them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_mosaics(count=200, marked=False):
    """Source images and mosaics; ``marked``: channel 0 is 255 on foreground-class images, 0 elsewhere."""
    images, labels, _ = make_synthetic(40, seed=3)
    if marked:
        images = images.clone()
        images[:, 0] = torch.where(labels < 3, 255, 0).to(torch.uint8).view(-1, 1, 1)
    mosaics = draw_mosaics(labels, FOREGROUND, BACKGROUND, count, seed=5)
    return images, mosaics


def half(mosaics, second=False):
    n = mosaics["label"].numel() // 2
    return {k: v[n:] if second else v[:n] for k, v in mosaics.items()}


def foreground_spotter(model):
    """Make the focus network score a foreground tile (channel 0 all 255) 1e4 and a background (0) 0."""
    where = model.where
    with torch.no_grad():
        for p in where.parameters():
            p.zero_()
        where.conv1.weight[0, 0, 2, 2] = 1  # +1 on a foreground tile, -1 on a background one
        where.conv2.weight[0, 0] = 1 / 25  # ~1 after the ReLU and pooling, or 0
        where.fc1.weight[0, 0] = 1
        where.fc2.weight[0, 0] = 1
        where.fc3.weight[0, 0] = 1
        where.fc4.weight[0, 0] = 1e4
    return model


def blind(model):
    """A focus network that gives every tile the same score."""
    with torch.no_grad():
        model.where.fc4.weight.zero_()
    return model


def test_float32_normalisation_equals_the_datasets_for_every_pixel_value():
    assert torch.equal(normalize_float32(torch.arange(256, dtype=torch.uint8)), _NORMALIZED)


@pytest.mark.parametrize("phased", [False, True])
def test_the_fast_forward_is_attend(phased):
    images, mosaics = synthetic_mosaics()
    model = build_attention_model(3, 11)
    batch = torch.tensor([3, 0, 7, 41])
    alphas, logits = attend(model, normalized_tiles(images, mosaics["source_index"][batch]))
    tiles = fast.mosaic_tiles(images, mosaics["source_index"], "cpu", phased)
    where_features = fast.features_of(model.where, "cpu", phased)
    what_features = fast.features_of(model.what, "cpu", phased)
    fast_alphas, hidden, _ = forward(model, where_features, what_features, tiles, batch)
    torch.testing.assert_close(fast_alphas, alphas, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.what.fc4(hidden), logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(fast_alphas.sum(1), torch.ones(4))


def test_a_focus_network_that_singles_out_the_foreground_has_focus_nine_and_blends_dataset_10():
    images, mosaics = synthetic_mosaics(marked=True)
    test = half(mosaics, second=True)
    model = foreground_spotter(build_attention_model(3, 11))
    summary, out = score_mosaics(model, images, test)
    assert summary["ftpt"] + summary["ftpf"] == 100
    assert summary["ffpt"] == summary["ffpf"] == 0
    assert summary["effective_focus"] == 9 and summary["foreground_alpha"] == 1
    assert summary["max_alpha_at_least_half"] == 100 and summary["entropy_bits"] == 0
    assert (out["alphas"].argmax(1) == test["foreground_position"]).all()
    learned = learned_focus_blend(images, test["source_index"], out["scores"])
    dataset_10 = foregrounds(images, test["source_index"], test["foreground_position"])
    assert torch.equal(learned, dataset_10)
    # and it is not the foreground of the wrong tile
    shifted = torch.roll(out["scores"], 1, dims=1)
    assert not torch.equal(learned_focus_blend(images, test["source_index"], shifted), dataset_10)


def test_equal_scores_give_alphas_of_one_ninth_and_blend_dataset_1():
    images, mosaics = synthetic_mosaics()
    train = half(mosaics)
    model = blind(build_attention_model(3, 11))
    summary, out = score_mosaics(model, images, train)
    assert (out["alphas"] == torch.tensor(1 / 9, dtype=torch.float32)).all()
    assert summary["entropy_bits"] == pytest.approx(math.log2(9), rel=1e-6)
    assert summary["effective_focus"] == pytest.approx(1, rel=1e-6) and summary["max_alpha_at_least_half"] == 0
    # Ties go to the first tile (argmax): the focus is "true" exactly where the foreground is tile 0.
    at_zero = 100 * (train["foreground_position"] == 0).double().mean().item()
    assert summary["ftpt"] + summary["ftpf"] == pytest.approx(at_zero)
    learned = learned_focus_blend(images, train["source_index"], out["scores"])
    dataset_1 = focus_dataset(images, train["source_index"], train["foreground_position"], 1)
    assert torch.equal(learned, dataset_1)
    # Why the blend's alphas are a float64 softmax: float32's 1/9 misses dataset 1 on most pixels.
    float32_alphas = out["alphas"].to(torch.float64)
    assert (blend(images, train["source_index"], float32_alphas) != dataset_1).float().mean() > 0.1


def test_uniform_alphas_blend_dataset_1_on_every_sum_of_nine_pixels():
    """The bound in learned_focus_blend's docstring, checked on random tiles and on every sum 0..2295."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (600, 3, 32, 32), dtype=torch.uint8, generator=generator)
    # images whose pixels make every sum of nine values from 0 to 2295 somewhere
    sums = torch.arange(2296)
    ladder = torch.stack([torch.clamp(sums - 255 * k, 0, 255) for k in range(9)], 1).to(torch.uint8)
    ladder_images = torch.zeros(9, 3, 32, 32, dtype=torch.uint8)
    ladder_images.view(9, -1)[:, : sums.numel()] = ladder.T
    images = torch.cat([images, ladder_images])
    index = torch.cat([torch.randint(0, 600, (500, 9), generator=generator), torch.arange(600, 609).view(1, 9)])
    position = torch.zeros(index.shape[0], dtype=torch.int64)
    learned = learned_focus_blend(images, index, torch.zeros(index.shape[0], 9))
    assert torch.equal(learned, focus_dataset(images, index, position, 1))


def test_the_four_counts_sum_to_100_percent():
    images, mosaics = synthetic_mosaics()
    summary, out = score_mosaics(build_attention_model(3, 5), images, mosaics)
    assert sum(summary[c] for c in ("ftpt", "ffpt", "ftpf", "ffpf")) == pytest.approx(100)
    assert summary["mosaics"] == 200 and 0 < summary["entropy_bits"] <= math.log2(9)


def test_entropy_is_log2_9_for_uniform_alphas_and_0_for_one_hot():
    labels, position = torch.tensor([0, 1]), torch.tensor([4, 2])
    logits = torch.tensor([[3.0, 0, 0], [0, 0, 3.0]])  # one right, one wrong
    uniform = focus_summary(focus_sums(torch.full((2, 9), 1 / 9), logits, labels, position), 2)
    assert uniform["entropy_bits"] == pytest.approx(math.log2(9), rel=1e-6)
    one_hot = torch.zeros(2, 9)
    one_hot[0, 4], one_hot[1, 5] = 1, 1  # focus true on mosaic 0, false on mosaic 1
    summary = focus_summary(focus_sums(one_hot, logits, labels, position), 2)
    assert summary["entropy_bits"] == 0 and summary["accuracy"] == 50
    assert (summary["ftpt"], summary["ffpt"], summary["ftpf"], summary["ffpf"]) == (50, 0, 0, 50)
    assert summary["effective_focus"] == 4.5 and summary["max_alpha_at_least_half"] == 100


def equal_states(a: AttentionState, b: AttentionState) -> bool:
    same = (
        a.losses == b.losses
        and a.fc3_units_active == b.fc3_units_active
        and a.focus == b.focus
        and a.abandoned == b.abandoned
    )
    return same and a.attempt == b.attempt and all(torch.equal(a.model[k], b.model[k]) for k in a.model)


def test_training_is_deterministic_and_a_resumed_training_equals_one_that_never_stopped(tmp_path):
    images, mosaics = synthetic_mosaics()
    train = half(mosaics)
    straight = train_attention(images, train, CONFIG, 9, 4)
    assert equal_states(straight, train_attention(images, train, CONFIG, 9, 4))
    assert len(straight.focus) == 4 and straight.epoch == 4
    first = train_attention(images, train, CONFIG, 9, 2)
    tensors, meta = first.to_artifact()
    save_artifact(tmp_path / "state.pt", "attention-state", tensors, meta=meta)
    resumed = AttentionState.from_artifact(*load_artifact(tmp_path / "state.pt", "attention-state"))
    assert equal_states(train_attention(images, train, CONFIG, 9, 4, resume=resumed), straight)
    # another seed, other bits
    assert train_attention(images, train, CONFIG, 10, 1).losses != straight.losses[:1]


def test_scoring_the_what_network_after_each_epoch_changes_nothing():
    images, mosaics = synthetic_mosaics()
    train = half(mosaics)
    seen = []

    def trajectory(state, model):
        seen.append((state.epoch, predict(model.what, normalized_tiles(images, train["source_index"])[:, 0])))

    assert equal_states(
        train_attention(images, train, CONFIG, 9, 3, after_epoch=trajectory),
        train_attention(images, train, CONFIG, 9, 3),
    )
    assert [epoch for epoch, _ in seen] == [1, 2, 3]


def dead_state(seed: int, mosaics: int) -> AttentionState:
    """Attempt 1 after its first epoch, every fc3 unit of the what network pushed far below zero."""
    model = build_attention_model(3, seed)
    with torch.no_grad():
        model.what.fc3.bias.fill_(-1e4)
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    torch.randperm(mosaics, generator=shuffle)
    return AttentionState(
        epoch=1,
        model=model.state_dict(),
        momentum={},
        shuffle=shuffle.get_state(),
        losses=[math.log(3)],
        fc3_units_active=[10],
        focus=[{"loss": math.log(3)}],
    )


def test_a_dead_what_network_is_restarted_with_the_next_attempts_seed():
    images, mosaics = synthetic_mosaics()
    train = half(mosaics)
    lines = []
    config = replace(CONFIG, restarts=2)
    state = train_attention(images, train, config, 9, 3, resume=dead_state(9, 100), log=lines.append)
    assert state.attempt == 2 and state.epoch == 3 and len(state.losses) == len(state.focus) == 3
    (abandoned,) = state.abandoned
    assert abandoned["attempt"] == 1 and abandoned["seed"] == 9 and abandoned["epoch"] == 2
    assert abandoned["reason"] == "dead: no fc3 unit active on any training image in epoch 2"
    assert abandoned["fc3_units_active"] == [10, 0] and len(abandoned["focus"]) == 2
    assert any(f"attempt 2: re-initialised with seed {attempt_seed(9, 2)}" in line for line in lines)
    assert equal_states(
        replace(state, abandoned=[], attempt=1), train_attention(images, train, CONFIG, attempt_seed(9, 2), 3)
    )
    # without restarts (the study's protocol) it stays dead
    kept = train_attention(images, train, CONFIG, 9, 3, resume=dead_state(9, 100))
    assert kept.attempt == 1 and kept.fc3_units_active[1:] == [0, 0]


def test_attention_keys_change_only_the_attention_stage_and_need_it_enabled():
    point = {"train.lr": 0.1, "attention.lr": 0.05, "attention.epochs": 7}
    assert stage_values(point, "train", "cifar10") == {"train.lr": 0.1}
    assert stage_values(point, "attention", "cifar10") == point
    config = {"sweep": {"attention.lr": [0.01, 0.05]}, "attention": {"enabled": False}}
    (problem,) = sweep_problems(config, lambda point: [])
    assert problem == "sweep: ['attention.lr'] change nothing with attention.enabled: false; enable it"
    assert sweep_problems({**config, "attention": {"enabled": True}}, lambda point: []) == []


def test_the_report_names_the_closest_row_and_keeps_every_replicates_counts():
    import pandas as pd

    from mosaicfocus.where_network.report import attention_matrix, closest_row, focus_table

    matrix = pd.DataFrame(
        [[10.0 * level + j for j in range(10)] for level in range(1, 10)],
        index=pd.Index(range(1, 10), name="trained_on"),
        columns=[str(j) for j in range(1, 11)],
    )
    extended = attention_matrix(matrix, [30.0 + j + 0.5 for j in range(10)], [50.0] * 9, 42.0)
    assert extended.shape == (10, 11) and extended.loc["attention", "learned"] == 42.0
    assert closest_row(extended) == (3, 0.5)
    summary = {"accuracy": 50, "ftpt": 40, "ffpt": 10, "ftpf": 20, "ffpf": 30, "foreground_alpha": 0.5}
    summary.update(effective_focus=4.5, max_alpha_at_least_half=60, entropy_bits=1.5, loss=0.9)
    records = [{"test": {**summary, "ftpt": ftpt}, "health": {"status": "learned", "attempts": 1}} for ftpt in (40, 50)]
    table = focus_table(records, [1, 2], ["test"])
    assert list(table["replicate"]) == ["1", "2", "mean", "sd", "n"]
    assert list(table["ftpt"]) == pytest.approx([40, 50, 45, math.sqrt(50), 2])
