"""`--set assume.NAME=VALUE`: one-run overrides of assumptions, merged as the last layer and
checked like file data (schema, unit, and the same dimension as the value it replaces)."""
from __future__ import annotations

from ..errors import Location, Problem, UsageError
from .loader import ValueRefused, plain_value

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
        try:  # read as a value in a data file is (YAML 1.2, no tags): 0100 is not octal 64 here either
            value = plain_value(text)
        except ValueRefused as exc:
            raise UsageError(f"--set {_shown(item)}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")) from None
        out.append((name[len(PREFIX):], value, item))
    return out


def _printable(text: str) -> str:
    """Text for a message or a location: control characters escaped (\\x1b), never sent raw."""
    return text if text.isprintable() else repr(text)[1:-1]


def _shown(item: str) -> str:
    """The argument as quoted in a message: repr (so no escape sequence reaches the terminal), cut at 60."""
    return repr(item if len(item) <= 60 else item[:60] + "...")


def documents(sets, known: dict) -> list:
    """One document per override, positioned at its command-line argument."""
    from ..errors import closest
    from .loader import Document

    docs = []
    for name, value, item in sets:
        if name not in known:
            near = closest(name, list(known))
            hint = f" (did you mean: {', '.join('assume.' + n for n in near)}?)" if near else ""
            raise UsageError(f"--set: unknown assumption 'assume.{_printable(name)}'{hint}; `vramrules assumptions` lists them")
        docs.append(Document(path=f"--set {_printable(item)}", data={"assumptions": {name: {"value": value}}}, layer="--set"))
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
        out.append(Problem(Location(f"--set {_printable(item)}"), f"/assumptions/{name}/value",
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
