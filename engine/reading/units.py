"""Units: the one Pint registry, built from data/units.txt, and a table of its units.

Pint defines every unit; the first run turns the registry into a table (each unit name with
prefixes -> factor to the canonical unit and dimension), cached by the hash of units.txt.
Parsing a quantity and checking dimensions then use the table, so a run that finds the table
imports no Pint (0.5 s on the 2-core machine). An unknown unit falls back to Pint for the
did-you-mean message. Evaluating a scenario uses plain floats only: bytes for [information].
"""
from __future__ import annotations

import json
import math
import os
import re
from functools import cache, lru_cache

from .datadir import builtin_data, builtin_data_dir

# Display units the renderers may use: name -> bytes. Checked against the registry by
# tests/test_units.py, so rendering needs no Pint import.
DISPLAY_UNITS = {
    "B": 1.0,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
    "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}


def declared_names(text: str) -> tuple[list, list]:
    """(unit names, prefixes) that a Pint definitions text declares: `name = definition = symbol
    = alias` gives the name, its plural, its symbol and aliases; `prefix- = factor = symbol-`
    gives the prefix and its symbol. The unit table is made of exactly these, so a unit added
    to units.txt is a unit everywhere."""
    units, prefixes = [], [""]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" not in line or line.startswith("@"):
            continue
        parts = [p.strip() for p in line.split("=")]
        name, extra = parts[0], [p for p in parts[2:] if p and p != "_"]
        if name.endswith("-"):
            prefixes += [name[:-1]] + [p[:-1] for p in extra if p.endswith("-")]
        elif name and not name.startswith("["):
            units += [name, name + "s"] + extra
    return list(dict.fromkeys(units)), list(dict.fromkeys(prefixes))


@cache
def registry():
    import pint  # deferred: ~0.5 s here; paid only to (re)build the unit table or explain a bad unit

    return pint.UnitRegistry(str(builtin_data() / "units.txt"), autoconvert_offset_to_baseunit=False)


class UnitProblem(ValueError):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class Dim(tuple):
    """A dimension as sorted ((base, exponent), ...); () is dimensionless. Supports * / ** and ==."""

    __slots__ = ()

    @staticmethod
    def of(pairs) -> Dim:
        acc: dict = {}
        for k, e in pairs:
            acc[k] = acc.get(k, 0) + e
        return Dim(sorted((k, e) for k, e in acc.items() if e))

    def __mul__(self, other):
        return Dim.of(list(self) + list(other))

    def __truediv__(self, other):
        return Dim.of(list(self) + [(k, -e) for k, e in other])

    def __pow__(self, n):
        return Dim.of([(k, e * n) for k, e in self])

    @property
    def dimensionality(self):
        return self

    def __str__(self):
        num = [k if e == 1 else f"{k} ** {e:g}" for k, e in self if e > 0]
        den = [k if e == -1 else f"{k} ** {-e:g}" for k, e in self if e < 0]
        text = " * ".join(num) or ("1" if den else "")
        return text + "".join(f" / {d}" for d in den)

    def __repr__(self):
        return f"Dim({str(self) or 'dimensionless'})"


def parse_dim(text: str) -> Dim:
    """'[information] / [time]' -> Dim."""
    if not text:
        return Dim()
    pairs, sign = [], 1
    for part in re.split(r"\s*([*/])\s*", text):
        if part == "/":
            sign = -1
        elif part == "*":
            sign = 1
        elif part and part != "1":
            name, _, exp = part.partition(" ** ")
            pairs.append((name.strip(), sign * float(exp or 1)))
    return Dim.of(pairs)


class Q:
    """A parsed quantity: its value in canonical units (bytes, counts) and its dimension."""

    __slots__ = ("dim", "text", "value")

    def __init__(self, value: float, dim: Dim, text: str = ""):
        self.value, self.dim, self.text = float(value), dim, text

    @property
    def dimensionality(self):
        return self.dim


def _units_txt() -> bytes:
    with open(os.path.join(builtin_data_dir(), "units.txt"), "rb") as f:  # a plain path: a warm run imports no pathlib
        return f.read()


@cache
def table() -> dict:
    """{unit name: (factor to canonical, dimension text)} for every prefixed unit of units.txt."""
    import zlib  # (hashlib loads OpenSSL, ~10 ms: only on a cache miss)

    from . import cache

    text = _units_txt()
    key = f"units-c{zlib.crc32(text):08x}-{len(text)}"  # the cache line holds units.txt itself: a match is exact
    cached = cache.read_json(key)
    if isinstance(cached, dict) and cached.get("units_txt") == text.decode("utf-8") and isinstance(cached.get("table"), dict):
        return {k: (float(v[0]), v[1]) for k, v in cached["table"].items()}
    import hashlib

    digest = hashlib.sha256(text).hexdigest()[:20]
    shipped = builtin_data() / "units.table.json"  # made by `python -m vramrules.reading.units`; used while it matches units.txt
    try:
        doc = json.loads(shipped.read_text(encoding="utf-8"))
        if doc.get("units_txt_sha256_20") == digest:
            out = {k: (float(v[0]), v[1]) for k, v in doc["table"].items()}
            cache.write_json(key, {"units_txt": text.decode("utf-8"), "table": out})  # the next run reads it without hashing
            return out
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    out = build_table()
    cache.write_json(key, {"units_txt": text.decode("utf-8"), "table": out})
    return out


def build_table() -> dict:
    """The table, from Pint itself."""
    reg = registry()
    out = {}
    words, prefixes = declared_names(_units_txt().decode("utf-8"))
    for p in prefixes:
        for u in words:
            try:
                q = reg.Quantity(1, p + u)
                base = q.to_base_units()
            except Exception:  # noqa: BLE001, S112 - a name Pint does not define is not a unit
                continue
            d = q.dimensionality
            out[p + u] = (float(base.magnitude), str(Dim.of((str(k), float(e)) for k, e in d.items())))
    return out


if __name__ == "__main__":  # regenerate data/units.table.json after editing data/units.txt
    import hashlib

    path = builtin_data() / "units.table.json"
    doc = {"generated_by": "python -m vramrules.reading.units (Pint, from data/units.txt)",
           "units_txt_sha256_20": hashlib.sha256(_units_txt()).hexdigest()[:20], "table": build_table()}
    path.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(doc['table'])} units)")


_NUMBER = r"^\s*([-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$"  # compiled on first use


def unit(name: str):
    """(factor, Dim) of a unit name, or None."""
    hit = table().get(name)
    return (hit[0], parse_dim(hit[1])) if hit else None


def unit_names() -> list[str]:
    return sorted(table())


# No quantity in any data file comes near this (1e30 B is a million yottabytes); a larger or
# non-finite one is a typo or an attack, refused where it is written rather than overflowing to
# inf inside a built-in rule later.
MAX_MAGNITUDE = 1e30


def _bounded(value: float, text) -> float:
    if not math.isfinite(value):
        raise UnitProblem(f"{_short(text)!r} is not a finite number", "use a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise UnitProblem(f"{_short(text)!r} is absurdly large (over {MAX_MAGNITUDE:g} in base units)", "check the number and its unit")
    return value


def _short(text):
    text = str(text)
    return text if len(text) <= 40 else text[:40] + "..."


def quantity(text) -> Q:
    """Parse '80 GiB', '3.35 TB/s', '1e9 param' or a bare number; raise UnitProblem with a hint.
    In text, non-finite and absurdly large magnitudes are refused (MAX_MAGNITUDE)."""
    if isinstance(text, bool) or text is None or not isinstance(text, (str, int, float)):
        raise UnitProblem(f"{text!r} is not a quantity", "write a number and a unit, e.g. '80 GiB'")
    if isinstance(text, (int, float)):
        # a YAML number is finite and within float range (the loader checks); a --set number may
        # be inf, which the assumption's bounds then refuse by name
        try:
            return Q(float(text), Dim(), str(text))
        except OverflowError:  # an int past the float range (API callers): as large as 1e400
            return Q(math.copysign(math.inf, text), Dim(), _short(text))
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Q:
    m = re.match(_NUMBER, text)
    if not m:
        raise UnitProblem(f"{text!r} is not a quantity", "write a number and a unit, e.g. '80 GiB'")
    number, expr = float(m.group(1).replace("_", "")), m.group(2)
    _bounded(number, text)
    if not expr:
        return Q(number, Dim(), text)
    factor, dim, op = 1.0, Dim(), "*"
    for part in re.split(r"\s*([*/])\s*", expr):
        if part in ("*", "/"):
            op = part
            continue
        u = unit(part)
        if u is None:
            return _pint_fallback(text, part)
        factor, dim = (factor * u[0], dim * u[1]) if op == "*" else (factor / u[0], dim / u[1])
    return Q(_bounded(number * factor, text), dim, text)


def _pint_fallback(text, part):
    from ..errors import did_you_mean

    hint = did_you_mean(part, unit_names()) or "units are defined in data/units.txt"
    shown = part if part.isprintable() else repr(part)[1:-1]  # never a raw escape sequence in a message
    raise UnitProblem(f"{_short(text)!r}: unknown unit '{shown}'", hint)


def dimension_of(q) -> str:
    """'[information]', '[information] / [time]', or '' for dimensionless."""
    return str(q.dim) if isinstance(q, Q) else ("" if not q.dimensionality else str(q.dimensionality))


def dimension_of_unit(name: str) -> str:
    u = unit(name)
    return str(u[1]) if u else ""


def canonical(q) -> float:
    """Plain float in canonical units: bytes for information, plain counts otherwise."""
    return q.value if isinstance(q, Q) else float(q.to_base_units().magnitude)


def describe_dimension(dim: str) -> str:
    return {"": "a plain number", "[information]": "a memory quantity"}.get(dim, dim)
