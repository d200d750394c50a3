"""The golden values of tests/test_golden.py: numbers that a change of the science would move.

    PYTHONPATH=src .venv/bin/python tests/golden/regenerate.py

recomputes them with this checkout's code, checks each against an independent derivation
(``check``: the protocol written out again, not the code run twice), and writes
tests/golden/values.json. Run it only when a change is meant to move them; the commit that
does so says why (docs/tests.md).

What is pinned, for one small synthetic configuration (``CONFIG``, run through the run plan
as the workflow runs it):

- ``seeds``: ``seeds.derive_seed`` of a few inputs, and the run plan's seeds of this config;
- ``source``, ``mosaics``: SHA-256 of the source images and of the mosaic draw (source
  indices, foreground positions, labels);
- ``datasets``: SHA-256 of the ten datasets' images (float32 bytes) and labels;
- ``losses``: the mean training loss of the first ``EPOCHS`` epochs of the model trained on
  dataset ``FOCUS``, on one thread.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = Path(__file__).with_name("values.json")

# tests/config/tiny.yaml, smaller: 20 images per class, 200 mosaics (100 per half).
CONFIG_OVERRIDES = {"data": {"source": "synthetic", "synthetic_per_class": 20}, "mosaics": {"count": 200}}
FOCUS, EPOCHS = 5, 3
# derive_seed's inputs: (base seed, *keys), hashed as the text "base/key1/key2/...".
SEED_INPUTS = [(2024,), (2024, "mosaics"), (7, "train", 3), (2024, "replicate", 2), (0, "train", 9, "init")]


def plan_of_config():
    from mosaicfocus.runplan.configcheck import check_config
    from mosaicfocus.runplan.plan import Plan

    config = copy.deepcopy(yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text()))
    for key, value in CONFIG_OVERRIDES.items():
        config[key] = {**config.get(key, {}), **value}
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    problems = check_config(config, schema)
    if problems:
        raise ValueError(f"the golden config is invalid: {problems}")
    return Plan(config)


def sha256(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's bytes in C order (its dtype and shape are the reader's to know)."""
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


def seed_text(inputs: tuple) -> str:
    return "/".join(str(part) for part in inputs)


def build():
    """The config's run, stage by stage, as the workflow's scripts do it: the plan's params,
    then the package's functions. Returns (values, the tensors ``check`` needs)."""
    from mosaicfocus.data.datasets import foregrounds
    from mosaicfocus.data.design import FOCUS_LEVELS, FOREGROUND_DATASET, training_mosaics
    from mosaicfocus.data.mosaics import draw_mosaics
    from mosaicfocus.data.sources import class_indices, load_source
    from mosaicfocus.data.weighting import focus_dataset_weighted
    from mosaicfocus.seeds import derive_seed
    from mosaicfocus.what_network.training import TrainConfig, train_epochs

    plan = plan_of_config()
    source_params, mosaic_params = plan.source_params("", ""), plan.mosaic_params("", "")
    images, labels, classes = load_source(
        "synthetic", None, seed=source_params["seed"], synthetic_per_class=source_params["per_class"]
    )
    foreground = class_indices(mosaic_params["foreground_classes"], classes, "foreground_classes")
    background = class_indices(mosaic_params["background_classes"], classes, "background_classes")
    drawn = draw_mosaics(labels, foreground, background, mosaic_params["count"], mosaic_params["seed"])
    index, position = drawn["source_index"], drawn["foreground_position"]
    half = training_mosaics(index.shape[0])
    weighting = plan.weighting_params("", "")
    datasets = {
        level: focus_dataset_weighted(images, index[:half], position[:half], level, weighting) for level in FOCUS_LEVELS
    }
    datasets[FOREGROUND_DATASET] = foregrounds(images, index[half:], position[half:])
    dataset_labels = {level: drawn["label"][:half] for level in FOCUS_LEVELS}
    dataset_labels[FOREGROUND_DATASET] = drawn["label"][half:]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workflow's train.threads: 1
    try:
        config = TrainConfig(**plan.train_settings(""))
        state = train_epochs(datasets[FOCUS], dataset_labels[FOCUS], config, plan.model_seed("", FOCUS), EPOCHS)
    finally:
        torch.set_num_threads(threads)

    values = {
        "seeds": {
            **{seed_text(inputs): derive_seed(*inputs) for inputs in SEED_INPUTS},
            f"plan: model {FOCUS}": plan.model_seed("", FOCUS),
        },
        "source": {"images": sha256(images), "labels": sha256(labels), "classes": classes},
        "mosaics": {name: sha256(tensor) for name, tensor in drawn.items()},
        "datasets": {
            str(level): {"images": sha256(datasets[level]), "labels": sha256(dataset_labels[level])}
            for level in datasets
        },
        "losses": {"focus": FOCUS, "epochs": EPOCHS, "loss": state.losses},
    }
    tensors = {"images": images, "labels": labels, "drawn": drawn, "datasets": datasets, "half": half}
    tensors.update(foreground=foreground, background=background, plan=plan)
    return values, tensors


def derive_seed_by_definition(base: int, *keys) -> int:
    """``seeds.derive_seed`` as its docstring and docs/protocol.md define it, written again:
    SHA-256 of "base/key1/key2/...", its first 8 bytes little-endian, the top bit cleared."""
    digest = hashlib.sha256("/".join([str(base), *map(str, keys)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") % 2**63


def nearest_float32(value: Fraction) -> np.float32:
    """The float32 nearest an exact rational (no float64 step that could round twice)."""
    guess = np.float32(float(value))
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    return min(candidates, key=lambda c: abs(Fraction(float(c)) - value))


def check(values: dict, tensors: dict) -> None:
    """Each value against the protocol, derived independently of the code that made it."""
    from mosaicfocus.data.design import FOCUS_LEVELS, TILES

    for inputs in SEED_INPUTS:
        assert values["seeds"][seed_text(inputs)] == derive_seed_by_definition(*inputs), inputs
    # Replicate 1 keeps the base seed 7; its mosaics are drawn from derive_seed(7, "mosaics")
    # (below) and model i trains from derive_seed(7, "train", i).
    assert tensors["plan"].mosaic_params("", "")["seed"] == 7
    assert values["seeds"][f"plan: model {FOCUS}"] == derive_seed_by_definition(7, "train", FOCUS)

    # The mosaic draw as docs/protocol.md words it, one mosaic at a time: a foreground drawn
    # uniformly from its pool, eight backgrounds from theirs, a position, the backgrounds filling
    # the other slots in draw order (one generator, seeded with derive_seed(seed, "mosaics")).
    labels, drawn = tensors["labels"].numpy(), tensors["drawn"]
    count = drawn["label"].numel()
    rng = np.random.Generator(np.random.PCG64(derive_seed_by_definition(7, "mosaics")))
    fg_pool = np.flatnonzero(np.isin(labels, tensors["foreground"]))
    bg_pool = np.flatnonzero(np.isin(labels, tensors["background"]))
    fg, bg = fg_pool[rng.integers(fg_pool.size, size=count)], bg_pool[rng.integers(bg_pool.size, size=(count, 8))]
    position = rng.integers(TILES, size=count)
    for m in range(count):
        row = list(bg[m])
        row.insert(position[m], fg[m])
        assert drawn["source_index"][m].tolist() == row, m
        assert drawn["label"][m] == tensors["foreground"].index(labels[fg[m]]), m
    assert drawn["foreground_position"].tolist() == position.tolist()

    # The datasets from exact rationals: a pixel of dataset i is the float32 nearest
    # (i/9) x_fg + ((9-i)/72) sum of the background x, with x = u/127.5 - 1 for a uint8 u.
    images, half = tensors["images"].numpy().astype(np.int64), tensors["half"]
    index, position = drawn["source_index"].numpy(), drawn["foreground_position"].numpy()
    table = np.array([nearest_float32(Fraction(n, 72 * 255) * 2 - 1) for n in range(72 * 255 + 1)], np.float32)
    tiles = images[index[:half]]  # [half, 9, 3, 32, 32]
    foreground = tiles[np.arange(half), position[:half]]
    for level in FOCUS_LEVELS:
        # 72 x blend = 8 i u_fg + (9 - i) sum of the eight background u: an integer.
        numerator = 8 * level * foreground + (TILES - level) * (tiles.sum(1) - foreground)
        assert np.array_equal(tensors["datasets"][level].numpy(), table[numerator]), level
    held_back = images[index[half:][np.arange(count - half), position[half:]]]
    assert np.array_equal(tensors["datasets"][10].numpy(), table[72 * held_back]), 10

    # The losses: a fresh network on 3 balanced-ish classes starts near ln 3 and moves slowly.
    losses = values["losses"]["loss"]
    assert len(losses) == EPOCHS and abs(losses[0] - np.log(3)) < 0.05, losses


def main() -> int:
    values, tensors = build()
    check(values, tensors)
    VALUES.write_text(json.dumps(values, indent=2) + "\n")
    print(f"wrote {VALUES} (checked against the protocol; CPU capability {torch.backends.cpu.get_cpu_capability()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
