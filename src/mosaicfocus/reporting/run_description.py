"""The run a report describes, read from the records of its models, never from the configuration.

The report job reads every model's record (``models/model_<i>.json``): the source
images, the mosaics, the weighting, the training settings, the seed, the device and
the code each model was made by. What must be one value for a whole run (the source,
the weighting, the training settings, the base seed) is checked to be one: records
that disagree are named, and the report refuses them. What may differ by replicate
(the mosaics' seed, the model seeds) is listed per replicate. The result is written
beside the matrices (``run.json``, and ``run.txt`` in words for the HTML report),
and ``snakemake --report`` compares it with its own configuration before it builds
anything (``runplan.plan.report_config_problems``).

The where network's report describes its own run the same way (``attention_run.json``,
``attention_run.txt``): from its records (``focus.json``, ``model.json``, its scores) and the
what networks' run it sits on (the point's ``run.json``), refusing records of another run, with
each job's code as ``provenance.code_versions`` gives it.
"""

from __future__ import annotations

import json

from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.provenance import code_versions, version_label
from mosaicfocus.runplan.plan import without_seed

# Settings a run holds once, whatever the replicate: where each lives in a model record. Their
# "seed" entries are the replicate's (derived from the base seed), listed per replicate instead.
RUN_WIDE = {
    "source": ("data", "source"),
    "foreground_classes": ("data", "foreground_classes"),
    "mosaics": ("data", "mosaics"),
    "weighting": ("data", "weighting"),
    "train": ("train",),
}
REPLICATE_SEED = ("train", "seed")
SYNTHETIC = "synthetic"


class RecordsDisagree(MosaicFocusError):
    """The records of one report describe different runs."""


def _get(meta: dict, path: tuple[str, ...]):
    for key in path:
        meta = meta.get(key, {}) if isinstance(meta, dict) else {}
    return meta


def _one_value(name: str, values: dict, paths: dict):
    """The one value that records (``values`` by label) hold for ``name``; ``RecordsDisagree``
    naming two of their files (``paths`` by the same labels) where they hold more than one."""
    values = dict(sorted(values.items()))
    first = next(iter(values))
    distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
    if len(distinct) > 1:
        other = next(label for label, v in values.items() if v != values[first])
        raise RecordsDisagree(
            f"the records of this report describe different runs: {name} is {values[first]} in "
            f"{paths[first]} but {values[other]} in {paths[other]}; rerun the workflow for one configuration "
            "(a results folder holds one run)"
        )
    return values[first]


def describe_run(records: dict[tuple[int, int], dict], paths: dict[tuple[int, int], str]) -> dict:
    """The run behind model records labelled (replicate, focus level), with ``paths`` naming
    each record's file for the refusal. Raises ``RecordsDisagree`` naming the files."""
    description: dict = {}
    for name, path in RUN_WIDE.items():
        description[name] = _one_value(
            name, {label: without_seed(_get(meta, path)) for label, meta in records.items()}, paths
        )
    replicates = sorted({r for r, _ in records})
    description["replicates"] = len(replicates)
    levels = {r: sorted(f for q, f in records if q == r) for r in replicates}
    description["replicate_seeds"] = {r: _get(records[r, levels[r][0]], REPLICATE_SEED) for r in replicates}
    description["model_seeds"] = {r: [records[r, f].get("model_seed") for f in levels[r]] for r in replicates}
    devices = {json.dumps(meta.get("device"), sort_keys=True) for meta in records.values()}
    description["devices"] = [json.loads(d) for d in sorted(devices)]
    description["trainers"] = sorted({meta.get("trainer", "single") for meta in records.values()})
    description["code"] = code_versions(meta.get("code") for meta in records.values())
    return description


def format_description(description: dict) -> str:
    """The run in words: the first lines of the HTML report, and of ``run.txt``."""
    source, mosaics, train = description["source"], description["mosaics"], description["train"]
    if source.get("source") == SYNTHETIC:
        images = f"synthetic images ({source.get('per_class')} per class, not CIFAR-10)"
    elif source.get("source") == "imagefolder":
        images = f"the image folder {source.get('root')}"
    else:
        images = "CIFAR-10 (torchvision)"
    per_class = source.get("images_per_class")
    lines = [
        f"Images: {images}{f', the first {per_class} of each class' if per_class else ''}; foreground "
        f"{', '.join(description['foreground_classes'])} among background "
        f"{', '.join(mosaics.get('background_classes', []))}.",
        f"Mosaics: {mosaics.get('count')} ({description['weighting'].get('weighting')} weighting); "
        f"{description['replicates']} replicate(s), seeds {_seeds_text(description['replicate_seeds'])}.",
        f"Training: {train.get('epochs')} epochs, SGD lr {train.get('lr')}, momentum {train.get('momentum')}, "
        f"batch {train.get('batch_size')}, restarts {train.get('restarts')}; "
        f"trainer {', '.join(description['trainers'])}.",
        devices_text(description["devices"]),
        code_text(description["code"]),
    ]
    return "\n".join(lines)


def devices_text(devices: list) -> str:
    return "Devices: " + "; ".join(_device(d) for d in devices) + "."


def code_text(code: dict) -> str:
    """A description's ``code`` (``provenance.code_versions``) in one line, a job with more than
    one version marked."""
    if not code:
        return "Code: not recorded (made before records named their code)."
    parts = []
    for job, entry in code.items():
        mixed = " (MIXED: more than one version)" if len(entry["digests"]) > 1 else ""
        parts.append(f"{job}{mixed} {version_label(entry)}")
    return "Code: " + "; ".join(parts) + "."


def _seeds_text(seeds: dict) -> str:
    return ", ".join(f"{r}: {s}" for r, s in seeds.items())


def _device(device: dict | None) -> str:
    if not device:
        return "not recorded"
    if device.get("type") == "cuda":
        return f"GPU {device.get('name')} (torch {device.get('torch')})"
    return f"CPU {device.get('processor')} ({device.get('capability')}, torch {device.get('torch')})"


# -- the where network's run ------------------------------------------------------------------

# What the attention job writes into both of its records (focus.json and model.json's meta).
ATTENTION_MADE_BY = ("seed", "train", "mosaics", "code")


def describe_attention_run(
    focus: dict[int, dict], records: dict[int, dict], scores: list[dict], what: dict, paths: dict
) -> dict:
    """The where network's run, from its records by replicate: ``focus`` (focus.json), ``records``
    (model.json's meta), the ``scores`` of its row, column and corner (their devices and code), and
    ``what``, the run.json of the what networks' run it sits on. ``paths``: {"focus": {r: path},
    "records": {r: path}, "run": path}, to name the files a refusal is about.

    Refused (``RecordsDisagree``): a replicate whose two records say different things; training
    settings or mosaics that differ between replicates; mosaics not those of the what networks' run
    (its settings, each replicate's seed, its number of replicates)."""
    what = json.loads(json.dumps(what))  # as read back from run.json: replicate keys are text
    for r in sorted(focus):
        for name in ATTENTION_MADE_BY:
            if json.dumps(focus[r].get(name), sort_keys=True) != json.dumps(records[r].get(name), sort_keys=True):
                raise RecordsDisagree(
                    f"the where network's records of replicate {r} come from different runs: {name} is "
                    f"{focus[r].get(name)} in {paths['focus'][r]} but {records[r].get(name)} in "
                    f"{paths['records'][r]}; rerun the workflow for one configuration"
                )
    train = _one_value("the where network's training", {r: m.get("train") for r, m in focus.items()}, paths["focus"])
    mosaics = _one_value("mosaics", {r: without_seed(m.get("mosaics")) for r, m in focus.items()}, paths["focus"])
    first = min(focus)
    if json.dumps(mosaics, sort_keys=True) != json.dumps(what.get("mosaics"), sort_keys=True):
        raise RecordsDisagree(
            f"the where network and the what networks were trained on different mosaics: {mosaics} in "
            f"{paths['focus'][first]} but {what.get('mosaics')} in {paths['run']}; rerun the workflow"
        )
    if what.get("replicates") != len(focus):
        raise RecordsDisagree(
            f"the where network's report reads {len(focus)} replicate(s), but {paths['run']} describes "
            f"{what.get('replicates')}; rerun the workflow"
        )
    for r in sorted(focus):
        seed, expected = focus[r].get("mosaics", {}).get("seed"), what.get("replicate_seeds", {}).get(str(r))
        if seed != expected:
            raise RecordsDisagree(
                f"replicate {r}'s where network was trained on the mosaics of seed {seed} ({paths['focus'][r]}), "
                f"but replicate {r} of the what networks' run on those of seed {expected} ({paths['run']}); "
                "rerun the workflow"
            )
    devices = {json.dumps(m.get("device"), sort_keys=True) for m in [*records.values(), *scores]}
    return {
        "replicates": len(focus),
        "seeds": {r: focus[r].get("seed") for r in sorted(focus)},
        "mosaics": mosaics,
        "train": train,
        "devices": [json.loads(d) for d in sorted(devices)],
        "code": code_versions([*(focus[r].get("code") for r in sorted(focus)), *(s.get("code") for s in scores)]),
        "what_network": what,
    }


def format_attention_description(description: dict) -> str:
    """The where network's run in words (``attention_run.txt``), then the what networks' run."""
    train = description["train"]
    lines = [
        f"Where network: a focus network and a what network (Module2, {train.get('outputs')} outputs) trained "
        f"jointly on each replicate's training-half mosaics ({description['mosaics'].get('count')} mosaics, "
        f"the what networks' own), {train.get('epochs')} epochs, SGD lr {train.get('lr')}, momentum "
        f"{train.get('momentum')}, batch {train.get('batch_size')}, restarts {train.get('restarts')}; "
        f"{description['replicates']} replicate(s), seeds {_seeds_text(description['seeds'])}.",
        devices_text(description["devices"]),
        code_text(description["code"]),
        "",
        "The what networks it sits on (run.txt):",
        format_description(description["what_network"]),
    ]
    return "\n".join(lines)
