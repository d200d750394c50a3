"""Checks of a (schema-validated) config that need more than a JSON schema.

Imported by the Snakefile at parse time, so it must stay cheap: no torch.
Each problem is reported with the key, what is wrong and what would be accepted.
"""

from __future__ import annotations

from .classes import CIFAR10_CLASSES


def config_problems(config: dict, cuda_available=None) -> list[str]:
    problems = []
    fg, bg = config["foreground_classes"], config["background_classes"]
    overlap = sorted(set(fg) & set(bg))
    if overlap:
        problems.append(
            f"foreground_classes and background_classes overlap in {overlap}; "
            f"a class must be in one list only."
        )
    outputs = config["model"]["outputs"]
    if len(fg) > outputs:
        problems.append(
            f"foreground_classes has {len(fg)} classes but model.outputs is {outputs}; "
            f"the network needs one output per foreground class (raise model.outputs or drop classes)."
        )
    if config["device"] == "cuda" and cuda_available is not None and not cuda_available():
        problems.append("device: cuda, but this machine has no CUDA device; use device: auto or cpu.")
    return problems


CIFAR10_PER_CLASS = 5000  # torchvision's CIFAR-10 training split


def source_sizes(config: dict) -> tuple[dict[str, int], list[str]]:
    """Images per class of the configured source and any problem with its files.

    Image folders are listed and sampled (``layout.imagefolder_check``); the
    other two sources are known without touching the disk.
    """
    data = config["data"]
    if data["source"] == "imagefolder":
        from .layout import imagefolder_check

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
        from .layout import imagefolder_check

        test_sizes, problems = imagefolder_check(config["data"]["root"], "test")
        if problems:
            return [f"heldout.enabled needs the test split: {p}" for p in problems]
        problems += [
            f"heldout.enabled: {p}" for p in unknown_class_problems(config, list(test_sizes))
        ]
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



def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error) -> str:
    where = _path(error)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key(s) {unknown}; allowed keys here: {allowed}"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not allowed; use one of {schema['enum']}"
    if error.validator == "type":
        return f"{where}: {error.instance!r} is not of type {schema['type']}"
    bounds = {
        "minimum": ">=",
        "exclusiveMinimum": ">",
        "maximum": "<=",
        "exclusiveMaximum": "<",
    }
    if error.validator in bounds:
        return f"{where}: {error.instance!r} is out of range; it must be {bounds[error.validator]} {error.validator_value}"
    if error.validator == "multipleOf":
        return f"{where}: {error.instance!r} must be a multiple of {error.validator_value}"
    if error.validator == "minItems":
        return f"{where}: must list at least {error.validator_value} item(s)"
    if error.validator == "uniqueItems":
        return f"{where}: {error.instance!r} lists an item twice"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    return f"{where}: {error.message}"


def validate_config(config: dict, schema: dict) -> list[str]:
    """Fill schema defaults into ``config`` (in place) and return every problem found."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = _copy(sub["default"])
                elif key in instance:
                    instance[key] = _coerce_scalar(instance[key], sub.get("type"))
        yield from check_properties(validator, properties, instance, schema)

    validator_class = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e) for e in errors]


def _coerce_scalar(value, wanted):
    """``--config train='{lr: 0.03}'`` reaches us with nested scalars as strings; read them back."""
    if isinstance(wanted, list):  # e.g. [integer, "null"]: an optional number
        wanted = next((kind for kind in wanted if kind in ("integer", "number", "boolean")), None)
    if wanted not in ("integer", "number", "boolean") or not isinstance(value, str):
        return value
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if wanted == "boolean":
        return parsed if isinstance(parsed, bool) else value
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        return value
    if wanted == "integer" and not isinstance(parsed, int):
        return value
    return parsed


def _copy(value):
    import copy

    return copy.deepcopy(value)
