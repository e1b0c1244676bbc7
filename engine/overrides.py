"""`--set assume.NAME=VALUE`: one-run overrides of assumptions, merged as the last layer and
checked like file data (schema, unit, and the same dimension as the value it replaces)."""
from __future__ import annotations

import yaml

from .errors import Location, Problem, UsageError

PREFIX = "assume."


def parse(items) -> list[tuple[str, object, str]]:
    """['assume.cuda_context=1 GiB'] -> [('cuda_context', '1 GiB', 'assume.cuda_context=1 GiB')]"""
    out = []
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE, e.g. --set assume.cuda_context='1 GiB'")
        if not name.startswith(PREFIX):
            raise UsageError(f"--set {item!r}: only assumptions can be set (assume.NAME); `vramrules assumptions` lists them")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if isinstance(value, str):
            try:
                value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity") else value
            except ValueError:
                pass
        out.append((name[len(PREFIX):], value, item))
    return out


def documents(sets, known: dict) -> list:
    """One document per override, positioned at its command-line argument."""
    from .errors import closest
    from .loader import Document

    docs = []
    for name, value, item in sets:
        if name not in known:
            near = closest(name, list(known))
            hint = f" (did you mean: {', '.join('assume.' + n for n in near)}?)" if near else ""
            raise UsageError(f"--set: unknown assumption 'assume.{name}'{hint}; `vramrules assumptions` lists them")
        docs.append(Document(path=f"--set {item}", data={"assumptions": {name: {"value": value}}}, layer="--set"))
    return docs


def check_dimensions(cat, previous: dict, sets) -> list[Problem]:
    """An override must keep the dimension of the value it replaces ('1 GiB' for a memory)."""
    from .units import describe_dimension

    out = []
    for name, value, item in sets:
        old = previous.get(name)
        new = cat.assumptions.get(name)
        if old is None or new is None:
            continue
        old_dim = _dim(old)
        if old_dim is None or new.dim == old_dim and (new.kind == "boolean") == isinstance(old, bool):
            continue
        out.append(Problem(Location(f"--set {item}"), f"/assumptions/{name}/value",
                           f"{value!r} is {describe_dimension(new.dim) if new.kind != 'boolean' else 'a boolean'}, but assume.{name} is {describe_dimension(old_dim) if not isinstance(old, bool) else 'a boolean'} ({old!r})",
                           "give a value with the same kind of unit"))
    return out


def _dim(value):
    from .units import UnitProblem, dimension_of, quantity

    if isinstance(value, bool):
        return ""
    try:
        return dimension_of(quantity(value))
    except UnitProblem:
        return None
