"""Quantities written for people, with explicit units (never a bare "GB" that might mean GiB):
the written side of units.quantity('64 GiB')."""
from __future__ import annotations

from .units import DISPLAY_UNITS

BINARY = ("B", "KiB", "MiB", "GiB", "TiB")
DECIMAL = ("B", "kB", "MB", "GB", "TB")


def memory(nbytes: float, unit: str = "GiB", digits: int = 2) -> str:
    return f"{nbytes / DISPLAY_UNITS[unit]:,.{digits}f} {unit}"


def auto(nbytes: float, binary: bool = True) -> str:
    """The largest unit that keeps the number >= 1: '320.00 KiB', '1.25 GiB'."""
    units = BINARY if binary else DECIMAL
    chosen = units[0]
    for u in units:
        if abs(nbytes) >= DISPLAY_UNITS[u]:
            chosen = u
    digits = 0 if chosen == "B" else 2
    return memory(nbytes, chosen, digits)


def count(x: float | bool | str) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return x
    if x == int(x) and abs(x) < 1e18:
        return f"{int(x):,}"
    return f"{x:,.6g}"


def value(x, dim: str, binary: bool = True) -> str:
    """A rule or fact value for humans, by its dimension; a per-group or per-device value is a list."""
    if isinstance(x, list):
        return "[" + ", ".join(auto(v, binary) if dim == "[information]" and not isinstance(v, (bool, str)) else count(v) for v in x) + "]"
    if isinstance(x, (bool, str)):
        return count(x)
    if dim == "[information]":
        exact = f"{x:,.0f} B" if x == int(x) else f"{x:,.4f} B"
        short = auto(x, binary)
        return exact if short.endswith(" B") else f"{short} ({exact})"
    if dim == "[information] / [time]":
        return f"{x / 1e12:,.3f} TB/s"
    return count(x)
