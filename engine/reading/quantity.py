"""Quantities written for people, with explicit units (never a bare "GB" that might mean GiB):
the written side of units.quantity('64 GiB').

Memory is shown in whole bytes: the rules compute on floats (1.2 x the weights, 0.9 of a GPU),
but nobody allocates 0.6 of a byte. What a workload needs is rounded up (needed: the safe side of
a fit question is never to understate it), what a GPU offers and the headroom left are rounded
down (available). A size below 1 KiB that is not whole is the size of one element (0.515875 B
per NF4 weight, 2.0039 B of 8-bit AdamW state per parameter), not an amount of memory: rounding
it would change every product it enters, so it keeps its fraction (whole_bytes)."""
from __future__ import annotations

import math

from .units import DISPLAY_UNITS

KIB = 1024.0

BINARY = ("B", "KiB", "MiB", "GiB", "TiB")
DECIMAL = ("B", "kB", "MB", "GB", "TB")


def needed(nbytes: float):
    """Memory a workload needs, in whole bytes: rounded up (an int; a non-finite value as it is)."""
    return math.ceil(nbytes) if math.isfinite(nbytes) else nbytes


def available(nbytes: float):
    """Memory a GPU offers, or the headroom left, in whole bytes: rounded down."""
    return math.floor(nbytes) if math.isfinite(nbytes) else nbytes


def whole_bytes(nbytes: float, down: bool = False):
    """A memory quantity as shown: whole bytes (needed, or with `down` available) when it is whole
    or at least 1 KiB; a size below 1 KiB with a fraction (one element's) as it is."""
    if isinstance(nbytes, float) and nbytes != int(nbytes) and abs(nbytes) < KIB:
        return nbytes
    return available(nbytes) if down else needed(nbytes)


def memory(nbytes: float, unit: str = "GiB", digits: int = 2) -> str:
    """'147.64 GiB'; in bytes, whole bytes rounded up ('158,523,946,599 B'): round a headroom or a
    capacity down (available) before it comes here."""
    if unit == "B":
        return f"{needed(nbytes):,} B" if math.isfinite(nbytes) else f"{nbytes} B"
    return f"{nbytes / DISPLAY_UNITS[unit]:,.{digits}f} {unit}"


def _bytes(nbytes) -> str:
    """A quantity already made whole_bytes, in bytes: '327,680 B', or one element's '2.0039 B'."""
    return f"{nbytes:,.4f} B" if isinstance(nbytes, float) and nbytes != int(nbytes) else f"{int(nbytes):,} B"


def auto(nbytes: float, binary: bool = True) -> str:
    """The largest unit that keeps the number >= 1: '320.00 KiB', '1.25 GiB'."""
    units = BINARY if binary else DECIMAL
    chosen = units[0]
    for u in units:
        if abs(nbytes) >= DISPLAY_UNITS[u]:
            chosen = u
    if chosen == "B":
        return _bytes(whole_bytes(nbytes))
    return memory(nbytes, chosen, 2)


def count(x: float | bool | str) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return x
    if x == int(x) and abs(x) < 1e18:
        return f"{int(x):,}"
    return f"{x:,.6g}"


def value(x, dim: str, binary: bool = True, down: bool = False) -> str:
    """A rule or fact value for humans, by its dimension; a per-group or per-device value is a
    list. Memory is whole bytes (whole_bytes: rounded up, or with `down` rounded down)."""
    if isinstance(x, list):
        return "[" + ", ".join(auto(whole_bytes(v, down), binary) if dim == "[information]" and not isinstance(v, (bool, str)) else count(v)
                               for v in x) + "]"
    if isinstance(x, (bool, str)):
        return count(x)
    if dim == "[information]":
        if not math.isfinite(x):
            return f"{x} B"
        x = whole_bytes(x, down)
        exact = _bytes(x)
        short = auto(x, binary)
        return exact if short.endswith(" B") else f"{short} ({exact})"
    if dim == "[information] / [time]":
        return f"{x / 1e12:,.3f} TB/s"
    return count(x)
