"""Where the built-in data and schemas live (inside the installed package).

The *_dir functions give plain strings: a warm `eval` uses only those and never imports pathlib
(with urllib.parse and ipaddress behind it, ~7 ms in a fresh environment)."""
from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the package (engine/, installed as vramrules)


def find_dir(name: str) -> str:
    inside = os.path.join(_HERE, name)               # installed wheel: vramrules/data
    if os.path.isdir(inside):
        return inside
    return os.path.join(os.path.dirname(_HERE), name)  # source checkout / editable install: engine/../data


def builtin_data_dir() -> str:
    return find_dir("data")


def schemas_dir() -> str:
    return find_dir("schemas")


def builtin_data():
    """The built-in data folder as a pathlib.Path."""
    from pathlib import Path

    return Path(builtin_data_dir())


def schemas():
    """The schemas folder as a pathlib.Path."""
    from pathlib import Path

    return Path(schemas_dir())
