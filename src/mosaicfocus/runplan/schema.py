"""The config's JSON schema, applied: defaults filled in, values checked, errors worded.

Generic: it knows nothing of this experiment beyond what the schema
(``workflow/schemas/config.schema.yaml``) says. The experiment's own checks of
the data and classes are in ``configcheck``. Imported by the Snakefile at parse
time, so it must stay cheap: no torch.
"""

from __future__ import annotations

import copy


def validate_config(config: dict, schema: dict) -> list[str]:
    """Fill schema defaults into ``config`` (in place) and return every problem found."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
                elif key in instance:
                    instance[key] = _coerce_scalar(instance[key], sub.get("type"))
        yield from check_properties(validator, properties, instance, schema)

    validator_class = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    errors = sorted(validator_class(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e) for e in errors]


def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error) -> str:
    """One line per schema error: the key, what is wrong and what would be accepted."""
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
        bound = f"{bounds[error.validator]} {error.validator_value}"
        return f"{where}: {error.instance!r} is out of range; it must be {bound}"
    if error.validator == "multipleOf":
        return f"{where}: {error.instance!r} must be a multiple of {error.validator_value}"
    if error.validator == "minItems":
        return f"{where}: must list at least {error.validator_value} item(s)"
    if error.validator == "uniqueItems":
        return f"{where}: {error.instance!r} lists an item twice"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    return f"{where}: {error.message}"


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
