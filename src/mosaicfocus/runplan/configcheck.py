"""Checks of a (schema-validated) config that need more than a JSON schema.

The experiment's own checks: the class lists, the data source and its image
folders, ``data.images_per_class``. The generic schema engine (defaults,
validation, error wording) is ``schema.validate_config``, re-exported here for
the Snakefile. Imported at parse time, so it must stay cheap: no torch.
Each problem is reported with the key, what is wrong and what would be accepted.
"""

from __future__ import annotations

from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.runplan.schema import validate_config

__all__ = [
    "check_config",
    "config_problems",
    "source_problems",
    "source_sizes",
    "unknown_class_problems",
    "validate_config",
    "where_network_problems",
]


def check_config(config: dict, schema: dict) -> list[str]:
    """Every problem of ``config``, in the order a user can fix them: the schema's (defaults
    filled in place), the experiment's, the sweep's (each value checked as a whole config;
    the sweep's values are then typed in place), the data source's. Empty: the run may start."""
    from mosaicfocus.runplan.runs import sweep_problems, typed_sweep

    def whole_config_problems(point: dict) -> list[str]:
        return validate_config(point, schema) or config_problems(point)

    problems = validate_config(config, schema) or config_problems(config)
    if problems:
        return problems
    problems = sweep_problems(config, whole_config_problems)
    if problems:
        return problems
    config["sweep"] = typed_sweep(config, whole_config_problems)
    try:
        return source_problems(config)
    except MosaicFocusError as exc:
        return [str(exc)]


def config_problems(config: dict) -> list[str]:
    problems = []
    fg, bg = config["foreground_classes"], config["background_classes"]
    overlap = sorted(set(fg) & set(bg))
    if overlap:
        problems.append(
            f"foreground_classes and background_classes overlap in {overlap}; a class must be in one list only."
        )
    problems += where_network_problems(config)
    outputs = config["model"]["outputs"]
    if len(fg) > outputs:
        problems.append(
            f"foreground_classes has {len(fg)} classes but model.outputs is {outputs}; "
            f"the network needs one output per foreground class (raise model.outputs or drop classes)."
        )
    return problems


# What the where network does not implement, with the value that it does.
WHERE_NETWORK_DEFAULTS = {
    "dtype": ("float32", "its tiles are gathered and blended in float32 per mini-batch"),
    "stop_loss": (None, "its trajectory, focus tables and learned-focus column follow attention.epochs"),
}


def where_network_problems(config: dict) -> list[str]:
    """train.dtype and train.stop_loss reach the what networks only: refused where the where
    network trains beside them, rather than leaving it on other terms unsaid."""
    if not config["attention"]["enabled"]:
        return []
    problems = []
    for key, (supported, why) in WHERE_NETWORK_DEFAULTS.items():
        value = config["train"][key]
        if value != supported:
            problems.append(
                f"train.{key}: {value!r} is not implemented for the where network ({why}), which "
                f"attention.enabled: true trains; set train.{key}: {'null' if supported is None else supported}, "
                f"or attention.enabled: false (a run of its own can train the where network)."
            )
    return problems


CIFAR10_PER_CLASS = 5000  # torchvision's CIFAR-10 training split


def source_sizes(config: dict) -> tuple[dict[str, int], list[str]]:
    """Images per class of the configured source and any problem with its files.

    Image folders are listed and sampled (``layout.imagefolder_check``); the
    other two sources are known without touching the disk.
    """
    data = config["data"]
    if data["source"] == "imagefolder":
        from mosaicfocus.data.imagefolder import imagefolder_check

        return imagefolder_check(data["root"], "train")
    per_class = data["synthetic_per_class"] if data["source"] == "synthetic" else CIFAR10_PER_CLASS
    return {name: per_class for name in CIFAR10_CLASSES}, []


def source_problems(config: dict) -> list[str]:
    """Everything about the data that can be refused before a job runs: the folder
    layout, sampled image headers, class names, and a slice larger than the source."""
    sizes, problems = source_sizes(config)
    if problems:
        return problems
    if config["heldout"]["enabled"] and config["data"]["source"] == "imagefolder":
        from mosaicfocus.data.imagefolder import imagefolder_check

        test_sizes, problems = imagefolder_check(config["data"]["root"], "test")
        if problems:
            return [f"heldout.enabled needs the test split: {p}" for p in problems]
        problems += [f"heldout.enabled: {p}" for p in unknown_class_problems(config, list(test_sizes))]
    classes = list(sizes)
    problems += unknown_class_problems(config, classes)
    wanted = config["data"].get("images_per_class")
    used = [name for name in classes if name in config["foreground_classes"] + config["background_classes"]]
    if wanted is not None and used:
        smallest = min(used, key=lambda name: sizes[name])
        if sizes[smallest] < wanted:
            problems.append(
                f"data.images_per_class: {wanted} is more than the source holds: class {smallest!r} has "
                f"{sizes[smallest]} images (data.source={config['data']['source']}); use at most "
                f"{sizes[smallest]}, or leave it unset (null) to use every image."
            )
    return problems


def unknown_class_problems(config: dict, classes: list[str]) -> list[str]:
    problems = []
    for key in ("foreground_classes", "background_classes"):
        missing = [name for name in config[key] if name not in classes]
        if missing:
            problems.append(
                f"{key}: {missing} not in the data's classes {classes} "
                f"(data.source={config['data']['source']}); use the names exactly as the data has them."
            )
    return problems
