"""The package's version, in one place (pyproject.toml's `version` says the same)."""

__version__ = "0.1.0"
