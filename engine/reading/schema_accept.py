"""A fast acceptor for the subset of JSON Schema that schemas/*.json use.

`accepts(schema, data)` answers True only when the data certainly passes: every keyword it meets
is one it decides exactly as jsonschema's Draft 2020-12 validator (with this project's x-
keywords) does. On anything else (a failure, a keyword outside the subset, a case where the two
could differ) it answers False, and schema.validate runs jsonschema, which finds and explains
every error. Valid data, the common case, never imports jsonschema (~115 ms on the 2-core
machine); invalid data gets the same messages as before. tests/test_schema_accept.py checks
that it never accepts what jsonschema rejects.
"""
from __future__ import annotations

import re

_ANNOTATIONS = frozenset({"description", "default", "title", "$schema", "$defs", "x-default-from", "x-fields", "format", "examples"})
# "format" only annotates: the validator is built without a format checker, as in schema.py;
# "x-fields" declares the engine settings' kinds for the catalog (reading/catalog._engines)


class _Unsure(Exception):
    pass


def accepts(schema: dict, data) -> bool:
    try:
        _check(schema, data, schema)
        return True
    except _Unsure:
        return False


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _number,
    # jsonschema also takes 3.0 as an integer; the acceptor leaves that case to it
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _unique_key(v):
    if isinstance(v, bool):
        return ("bool", v)
    if _number(v):
        return ("number", float(v))  # 1 and 1.0 are equal in JSON Schema
    if isinstance(v, str):
        return ("string", v)
    raise _Unsure


def _check(s, v, root) -> None:  # noqa: C901  (one branch per JSON Schema keyword of the subset)
    if s is True or s == {}:
        return
    if not isinstance(s, dict):
        raise _Unsure
    for kw, arg in s.items():
        if kw in _ANNOTATIONS:
            continue
        if kw == "type":
            names = arg if isinstance(arg, list) else [arg]
            if not any(_TYPES[n](v) for n in names if n in _TYPES):
                raise _Unsure
        elif kw == "$ref":
            if not (isinstance(arg, str) and arg.startswith("#/$defs/")):
                raise _Unsure
            target = root.get("$defs", {}).get(arg[len("#/$defs/"):])
            if target is None:
                raise _Unsure
            _check(target, v, root)
        elif kw == "properties":
            if isinstance(v, dict):
                for k, sub in arg.items():
                    if k in v:
                        _check(sub, v[k], root)
        elif kw == "additionalProperties":
            if isinstance(v, dict):
                known = s.get("properties", {})
                if "patternProperties" in s:
                    raise _Unsure
                for k, item in v.items():
                    if k not in known:
                        if arg is False:
                            raise _Unsure
                        _check(arg, item, root)
        elif kw == "required":
            if isinstance(v, dict) and any(k not in v for k in arg):
                raise _Unsure
        elif kw == "propertyNames":
            if isinstance(v, dict):
                for k in v:
                    _check(arg, k, root)
        elif kw == "items":
            if isinstance(v, list):
                for item in v:
                    _check(arg, item, root)
        elif kw in ("minItems", "maxItems"):
            if isinstance(v, list) and (len(v) < arg if kw == "minItems" else len(v) > arg):
                raise _Unsure
        elif kw == "uniqueItems":
            if arg is True and isinstance(v, list) and len({_unique_key(x) for x in v}) != len(v):
                raise _Unsure
        elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if _number(v):
                ok = {"minimum": v >= arg, "maximum": v <= arg, "exclusiveMinimum": v > arg, "exclusiveMaximum": v < arg}[kw]
                if not ok:
                    raise _Unsure
        elif kw == "minLength":
            if isinstance(v, str) and len(v) < arg:
                raise _Unsure
        elif kw == "pattern":
            if isinstance(v, str) and not re.search(arg, v):
                raise _Unsure
        elif kw == "enum":
            if not any(type(e) is type(v) and e == v for e in arg):
                raise _Unsure
        elif kw == "x-dimension":
            if isinstance(v, str):
                _quantity_of(v, arg)
        elif kw == "x-quantity-or-number":
            if isinstance(v, str):
                _quantity_of(v, None)
        else:
            raise _Unsure  # a keyword outside the subset: jsonschema decides


def _quantity_of(text: str, dim) -> None:
    from .units import UnitProblem, dimension_of, quantity

    try:
        q = quantity(text)
    except UnitProblem:
        raise _Unsure from None
    if dim is not None and dimension_of(q) != dim:
        raise _Unsure
