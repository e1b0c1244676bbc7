"""JSON Schema validation of merged data, every error located and hinted.

Custom keywords (ignored by other JSON Schema tools, enforced here):
  x-dimension: "[information]"  the string must be a Pint quantity of that dimension
  x-quantity-or-number: true    a number, a boolean, or a quantity string of any known unit
  x-default-from: FIELD         catalog default: the value of FIELD in the same entry
"""
from __future__ import annotations

import json
from functools import cache

from ..errors import Problem, did_you_mean
from .datadir import schemas
from .loader import pointer_text

VALIDATION_FORMAT = 2  # bump when the checks below (or the loader and units checks they call) change: it keys the "these inputs passed" cache
@cache
def load_schema(name: str) -> dict:
    return json.loads((schemas() / f"{name}.schema.json").read_text(encoding="utf-8"))


def _x_dimension(validator, dim, instance, schema):
    if not isinstance(instance, str):
        return
    from jsonschema import ValidationError

    from .units import UnitProblem, describe_dimension, dimension_of, quantity

    try:
        q = quantity(instance)
    except UnitProblem as exc:
        yield ValidationError(str(exc), context=[], validator_value=exc.hint)
        return
    if dimension_of(q) != dim:
        err = ValidationError(f"{instance!r} is not {describe_dimension(dim)} (it is {describe_dimension(dimension_of(q))})")
        err.validator_value = "write it with a unit of " + dim
        yield err


def _x_quantity_or_number(validator, flag, instance, schema):
    if isinstance(instance, str):
        from jsonschema import ValidationError

        from .units import UnitProblem, quantity

        try:
            quantity(instance)
        except UnitProblem as exc:
            yield ValidationError(str(exc), validator_value=exc.hint)


@cache
def _validator_class():
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {
        "x-dimension": _x_dimension,
        "x-quantity-or-number": _x_quantity_or_number,
    })


def validation_key(name: str, identity: str) -> str:
    """Names 'these exact inputs against this schema and these units'."""
    import hashlib

    from .datadir import builtin_data

    h = hashlib.sha256(f"{VALIDATION_FORMAT}".encode())
    h.update((schemas() / f"{name}.schema.json").read_bytes())
    h.update((builtin_data() / "units.txt").read_bytes())
    h.update(identity.encode())
    return "valid-" + h.hexdigest()[:32]


def validate(name: str, data, where, identity: str = "") -> list[Problem]:
    """Validate `data` against schemas/NAME.schema.json. `where(pointer)` -> Location.
    `identity` names the exact inputs (Merged.identity): inputs that passed before, against the
    same schema and units, pass again without a schema pass (cache key: both hashed)."""
    from . import cache

    key = validation_key(name, identity) if identity else ""
    if key and cache.read_json(key) is True:
        return []
    schema = load_schema(name)
    from .schema_accept import accepts

    if accepts(schema, data):  # certainly valid: no jsonschema import (see schema_accept.py)
        if key:
            cache.write_json(key, True)
        return []
    cls = _validator_class()
    problems = []
    for err in cls(schema).iter_errors(data):
        path = tuple(err.absolute_path)
        problems.append(_problem(err, path, where))
    if key and not problems:
        cache.write_json(key, True)
    return problems


def _problem(err, path, where) -> Problem:
    kw = err.validator
    hint = ""
    message = err.message
    if kw == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = [k for k in (err.instance or {}) if k not in allowed] if isinstance(err.instance, dict) else []
        if extra:
            key = extra[0]
            path = path + (key,)
            message = f"unknown field '{key}'"
            hint = did_you_mean(key, allowed) or "allowed: " + ", ".join(allowed)
    elif kw == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        message = f"missing required field '{missing}'" if missing else err.message
    elif kw == "enum":
        choices = [str(c) for c in err.validator_value]
        message = f"{err.instance!r} is not one of: {', '.join(choices)}"
        hint = did_you_mean(str(err.instance), choices)
    elif "propertyNames" in err.relative_schema_path or kw == "propertyNames":
        message = f"name {err.instance!r} is not allowed"
        hint = "ids are kebab-case: lowercase letters, digits, dots and single hyphens (h100-sxm-80gb)"
        if err.instance is not None:
            path = path + (err.instance,)
    elif kw == "type":
        message = f"{err.instance!r} is not of type {err.validator_value}"
    elif kw in ("x-dimension", "x-quantity-or-number"):
        hint = err.validator_value if isinstance(err.validator_value, str) else ""
    return Problem(where(path), pointer_text(path), message, hint)
