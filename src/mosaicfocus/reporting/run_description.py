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

Two other reports describe their own run the same way. The where network's report
(``attention_run.json``, ``attention_run.txt``) reads its records (``focus.json``, ``model.json``,
its scores) and the what networks' run it sits on (the point's ``run.json``), and refuses records
of another run. The sweep's summary (``sweep/runs.json``, ``runs.txt``) lists each grid point's
run from the point's ``run.json`` and refuses one whose run holds other values than the point's
folder says. Both keep each job's code as ``provenance.code_versions`` gives it.
"""

from __future__ import annotations

import json

from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.provenance import code_versions, version_label
from mosaicfocus.runplan.plan import without_seed
from mosaicfocus.runplan.runs import format_value

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
        f"Training: {_training_text(train)}; trainer {', '.join(description['trainers'])}.",
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


def _training_text(train: dict) -> str:
    # dtype and stop_loss are in a record only when set (train.dtype, train.stop_loss): their
    # absence is float32 and every epoch, as the records of runs made before them say nothing.
    text = (
        f"{train.get('epochs')} epochs, SGD lr {train.get('lr')}, momentum {train.get('momentum')}, "
        f"batch {train.get('batch_size')}, restarts {train.get('restarts')}, {train.get('dtype') or 'float32'}"
    )
    if train.get("stop_loss") is not None:
        text += f", stopped at the authors' loss <= {train['stop_loss']} (train.stop_loss)"
    return text


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
        f"jointly on the training half of each replicate's {description['mosaics'].get('count')} mosaics "
        f"(the what networks' own), {_training_text(train)}; {description['replicates']} replicate(s), "
        f"seeds {_seeds_text(description['seeds'])}.",
        devices_text(description["devices"]),
        code_text(description["code"]),
        "",
        "The what networks it sits on (run.txt):",
        format_description(description["what_network"]),
    ]
    return "\n".join(lines)


# -- a sweep's grid points --------------------------------------------------------------------

# Where each sweepable key (runplan.runs.SWEEPABLE) is found in a run's description: "run" is the
# point's run.json (the what networks), "attention" its attention_run.json (the where network).
SWEPT_IN_DESCRIPTION = {
    "seed": ("run", ("replicate_seeds", "1")),  # replicate 1 keeps the point's seed
    "mosaics.count": ("run", ("mosaics", "count")),
    "weighting": ("run", ("weighting", "weighting")),
    "dirichlet_alpha": ("run", ("weighting", "alpha")),
    "model.outputs": ("run", ("train", "outputs")),
    "train.lr": ("run", ("train", "lr")),
    "train.momentum": ("run", ("train", "momentum")),
    "train.batch_size": ("run", ("train", "batch_size")),
    "train.epochs": ("run", ("train", "epochs")),
    "train.restarts": ("run", ("train", "restarts")),
    "train.dtype": ("run", ("train", "dtype")),
    "train.stop_loss": ("run", ("train", "stop_loss")),
    "attention.epochs": ("attention", ("train", "epochs")),
    "attention.lr": ("attention", ("train", "lr")),
    "attention.momentum": ("attention", ("train", "momentum")),
    "attention.batch_size": ("attention", ("train", "batch_size")),
    "attention.restarts": ("attention", ("train", "restarts")),
}
# What a record holds by leaving a key out (runplan.plan.train_settings writes these only when set).
ABSENT_MEANS = {"train.dtype": "float32", "train.stop_loss": None}
_MISSING = object()


def swept_disagreements(values: dict, descriptions: dict[str, dict]) -> list[str]:
    """Where a grid point's run (``descriptions``: "run", and "attention" for the where network's
    keys, as read back from their JSON files) holds other values than the point's folder says,
    as 'key: the point's folder says X, its run.json has Y'."""
    found = []
    for key, value in values.items():
        which, path = SWEPT_IN_DESCRIPTION[key]
        described = descriptions.get(which)
        name = "attention_run.json" if which == "attention" else "run.json"
        if described is None:
            found.append(f"{key}: its {name} was not read")
            continue
        if key == "dirichlet_alpha" and _get(described, ("weighting", "weighting")) != "dirichlet":
            continue  # linear weighting uses no alpha (a sweep of weighting and alpha together)
        node = described
        for part in path:
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING:
            node = ABSENT_MEANS.get(key, _MISSING)
        if node is _MISSING or node != value:
            shown = "nothing" if node is _MISSING else repr(node)
            found.append(f"{key}: the point's folder says {value!r}, its {name} has {shown}")
    return found


def describe_sweep(points: list[tuple[str, dict]], runs: dict[str, dict], paths: dict, attention=None) -> dict:
    """Each grid point (its folder, its swept values) and the run that made it: the key lines of its
    run.json (``runs`` by folder, read back from JSON; ``paths`` {"runs": {folder: path}, and
    "attention": {folder: path} with ``attention``}) and, where the where network's keys are swept,
    of its attention_run.json (``attention`` by folder). Raises ``RecordsDisagree`` for a point whose
    run holds other values than its folder says."""
    described = []
    for folder, values in points:
        run = json.loads(json.dumps(runs[folder]))
        own = {"run": run}
        if attention is not None:
            own["attention"] = json.loads(json.dumps(attention[folder]))
        problems = swept_disagreements(values, own)
        if problems:
            where = paths["runs"][folder] + (f" and {paths['attention'][folder]}" if attention is not None else "")
            raise RecordsDisagree(
                f"the grid point {folder} was not made by the run its folder names ({where}): "
                + "; ".join(problems)
                + "; rerun the workflow for this sweep"
            )
        entry = {"point": folder, "values": values, "run": paths["runs"][folder]}
        entry.update({key: run.get(key) for key in ("replicates", "replicate_seeds", "devices", "trainers", "code")})
        if attention is not None:
            where = own["attention"]
            entry["attention"] = {"run": paths["attention"][folder], "train": where.get("train")}
            entry["attention"].update({key: where.get(key) for key in ("seeds", "devices", "code")})
        described.append(entry)
    return {"points": described}


def format_sweep(description: dict) -> str:
    """The grid points and their runs in words (``sweep/runs.txt``): first which jobs' code differs
    between points, then per point its seeds, devices, trainers and code."""
    points = description["points"]
    versions: dict[str, set] = {}
    for point in points:
        for code in (point.get("code") or {}, (point.get("attention") or {}).get("code") or {}):
            for job, entry in code.items():
                versions.setdefault(job, set()).add(tuple(entry["digests"]))
    differing = sorted(job for job, found in versions.items() if len(found) > 1)
    lines = [
        f"{len(points)} grid point(s), each from its own run.json (the records of its models)."
        + (
            f" The code of {', '.join(differing)} differs between points: see each point's code."
            if differing
            else " Every point was made by the same code of each job."
        )
    ]
    for point in points:
        label = ", ".join(f"{key}={format_value(value)}" for key, value in point["values"].items())
        lines += [
            "",
            f"{label} ({point['run']}): {point['replicates']} replicate(s), seeds "
            f"{_seeds_text(point['replicate_seeds'])}; trainer {', '.join(point['trainers'])}.",
            "  " + devices_text(point["devices"]),
            "  " + code_text(point["code"]),
        ]
        where = point.get("attention")
        if where:
            lines += [
                f"  Where network ({where['run']}): {_training_text(where.get('train') or {})}; "
                f"seeds {_seeds_text(where['seeds'])}.",
                "  " + devices_text(where["devices"]),
                "  " + code_text(where["code"]),
            ]
    return "\n".join(lines)
