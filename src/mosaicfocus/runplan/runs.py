"""Runs and sweeps: where each run (a grid point x a replicate) keeps its files.

A sweep maps dotted config keys to lists of values; its grid is their product.
Each grid point is a whole experiment in ``results/sweep/<key>~<value>/...``
(Snakemake's Paramspace naming), and a point shares every file whose
parameters it has in common with other points: a file's folder names only the
swept keys that change it. Each key changes the files of one stage and all
after it (``SWEEPABLE``): a learning-rate sweep shares the source images,
mosaics and datasets, a Dirichlet-alpha sweep the source images and mosaics, a
sweep of the attention model's keys everything but the attention model.

A run's prefix is the point's folder plus the replicate's (``replicates/<r>/``
for r >= 2); without a sweep both are empty and the plain layout stays.
Torch-free: the Snakefile uses it at parse time.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable

STAGES = ("source", "mosaics", "datasets", "train", "attention")

# The first stage each sweepable key changes ("seed" changes synthetic source images too).
SWEEPABLE = {
    "seed": "mosaics",
    "mosaics.count": "mosaics",
    "weighting": "datasets",
    "dirichlet_alpha": "datasets",
    "model.outputs": "train",
    "train.lr": "train",
    "train.momentum": "train",
    "train.batch_size": "train",
    "train.epochs": "train",
    "train.restarts": "train",
    "train.dtype": "train",
    "train.stop_loss": "train",
    # The attention model reads the datasets and the trained what networks; nothing reads it.
    "attention.epochs": "attention",
    "attention.lr": "attention",
    "attention.momentum": "attention",
    "attention.batch_size": "attention",
    "attention.restarts": "attention",
}

POINT_PATTERN = r"(sweep/([^/~]+~[^/]+/)+)?"
REPLICATE_PATTERN = r"(replicates/[0-9]+/)?"
REPLICATE_GLOB = "replicates/*/"  # the folders of replicates 2, 3, ... in a results folder
RUN_PATTERN = POINT_PATTERN + REPLICATE_PATTERN


def replicate_prefix(replicate: int) -> str:
    """Replicate 1 keeps the plain layout; replicate r >= 2 lives in ``replicates/<r>/``."""
    return "" if replicate == 1 else f"replicates/{replicate}/"


def replicate_number(run: str) -> int:
    replicate = split_run(run)[1]
    return 1 if replicate == "" else int(replicate.split("/")[1])


def chunk_ends(epochs: int, epochs_per_job: int) -> list[int]:
    """Epochs after which a training job saves its state and the next job goes on: a model's
    training runs as chunks of ``epochs_per_job`` epochs (resuming is bit for bit, so the
    split never changes a result)."""
    return list(range(epochs_per_job, epochs, epochs_per_job))


def chunk_epochs(epochs: int, epochs_per_job: int, last: int | None = None) -> tuple[int, int]:
    """(first, last) epoch of the training job ending at ``last`` (None: the final job)."""
    ends = chunk_ends(epochs, epochs_per_job)
    if last is None:
        last = epochs
    elif last not in ends:
        raise ValueError(
            f"No training job ends at epoch {last}: with train.epochs={epochs} "
            f"and train.epochs_per_job={epochs_per_job} they end at {ends + [epochs]}."
        )
    return max([end for end in ends if end < last], default=0) + 1, last


def format_value(value) -> str:
    """A value as it appears in a folder name: ``0.001``, ``1e-05``, ``dirichlet``, ``True``."""
    return repr(value) if isinstance(value, float) else str(value)


def grid(sweep: dict) -> list[dict]:
    """Every grid point as {key: value}, keys in the sweep's order; one empty point without a sweep."""
    keys = list(sweep)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(sweep[k] for k in keys))]


def point_prefix(values: dict) -> str:
    """``sweep/train.lr~0.001/`` for {"train.lr": 0.001}; "" for the empty point."""
    if not values:
        return ""
    return "sweep/" + "".join(f"{key}~{format_value(value)}/" for key, value in values.items())


def point_values(prefix: str, sweep: dict) -> dict:
    """The typed values of a point prefix, looked up among the sweep's own values."""
    values = {}
    for segment in re.findall(r"([^/~]+)~([^/]+)/", prefix):
        key, text = segment
        matches = [v for v in sweep.get(key, []) if format_value(v) == text]
        if not matches:
            raise ValueError(f"{prefix!r}: {key}~{text} is not a value of the sweep ({sweep.get(key)})")
        values[key] = matches[0]
    return values


def split_run(run: str) -> tuple[str, str]:
    """A run prefix as (point prefix, replicate prefix)."""
    match = re.fullmatch(f"({POINT_PATTERN})({REPLICATE_PATTERN})", run)
    if not match:
        raise ValueError(f"{run!r} is not a run prefix")
    return match.group(1), match.group(4)


def stage_values(values: dict, stage: str, source: str) -> dict:
    """The part of a point that changes the files of ``stage`` (kept in sweep order)."""
    limit = STAGES.index(stage)

    def first_stage(key: str) -> str:
        return "source" if key == "seed" and source == "synthetic" else SWEEPABLE[key]

    return {key: value for key, value in values.items() if STAGES.index(first_stage(key)) <= limit}


def apply_point(config: dict, values: dict) -> dict:
    """A copy of ``config`` with the point's values set (and without the sweep itself)."""
    point = copy.deepcopy({key: value for key, value in config.items() if key != "sweep"})
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = point
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return point


def sweep_problems(config: dict, validate: Callable[[dict], list[str]]) -> list[str]:
    """Problems of ``config['sweep']``, each naming its key (and value): unknown or repeated
    keys, empty lists, values a folder name cannot hold, and every value that ``validate``
    (the schema's and the experiment's checks of a whole config) refuses for its key."""
    sweep = config.get("sweep") or {}
    problems = []
    base = set(validate(apply_point(config, {})))
    for key, values in sweep.items():
        if key not in SWEEPABLE:
            problems.append(f"sweep: {key!r} cannot be swept; sweepable keys: {sorted(SWEEPABLE)}")
            continue
        if not isinstance(values, list) or not values:
            problems.append(f"sweep: {key}: give a non-empty list of values, got {values!r}")
            continue
        texts = [format_value(v) for v in values]
        if len(set(texts)) != len(texts):
            problems.append(f"sweep: {key}: repeated values {values}")
        for value, text in zip(values, texts, strict=True):
            if isinstance(value, dict | list) or not re.fullmatch(r"[^/~\s]+", text):
                problems.append(f"sweep: {key}: {value!r} cannot name a folder; use a number, word or boolean")
                continue
            for problem in validate(apply_point(config, {key: value})):
                if problem in base:
                    continue
                if problem.startswith(f"{key}:"):
                    problems.append(f"sweep: {problem}")
                else:
                    problems.append(f"sweep: {key}: {value!r} makes the configuration invalid: {problem}")
    attention_keys = [key for key in sweep if SWEEPABLE.get(key) == "attention"]
    if attention_keys and not (config.get("attention") or {}).get("enabled"):
        problems.append(f"sweep: {attention_keys} change nothing with attention.enabled: false; enable it")
    if "dirichlet_alpha" in sweep and "weighting" not in sweep and config.get("weighting") != "dirichlet":
        problems.append("sweep: dirichlet_alpha changes nothing with weighting: linear; set weighting: dirichlet")
    return problems


def typed_sweep(config: dict, validate: Callable[[dict], list[str]]) -> dict:
    """The sweep with each value typed as its key's schema says (``--config`` gives strings):
    ``validate`` fills and coerces a whole config in place, as it does for the config itself."""
    typed = {}
    for key, values in (config.get("sweep") or {}).items():
        typed[key] = []
        for value in values:
            point = apply_point(config, {key: value})
            validate(point)
            node = point
            for part in key.split("."):
                node = node[part]
            typed[key].append(node)
    return typed
