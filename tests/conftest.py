import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
# Tests see only the built-in data and what they pass themselves, and a cache of their own.
os.environ.pop("VRAMRULES_DATA", None)
os.environ.pop("VRAMRULES_NO_CACHE", None)
if "VRAMRULES_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["VRAMRULES_CACHE_DIR"] = tempfile.mkdtemp(prefix="vramrules-test-cache-")


def _stale_files() -> list:
    """Files of the checkout that the imported vramrules does not have as they are here: the
    tests would be testing another copy (a `pip install .` made before the last edit)."""
    import vramrules

    pkg = Path(vramrules.__file__).resolve().parent
    if pkg == (ROOT / "engine").resolve():
        return []  # an editable install: the checkout itself
    out = []
    for src, dst in ((ROOT / "engine", pkg), (ROOT / "data", pkg / "data"), (ROOT / "schemas", pkg / "schemas")):
        for f in src.rglob("*"):
            if f.is_file() and f.suffix in (".py", ".yaml", ".json", ".txt") and "__pycache__" not in f.parts:
                other = dst / f.relative_to(src)
                if not other.is_file() or other.read_bytes() != f.read_bytes():
                    out.append(str(f.relative_to(ROOT)))
    return out


def pytest_configure(config):
    stale = _stale_files()
    if stale:
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            f"the installed vramrules is not this checkout ({len(stale)} files differ, e.g. {stale[0]}): "
            "reinstall, or develop with `pip install -e '.[test]'`"), stacklevel=2)


@pytest.fixture(params=["generated", "interpreted"])
def runner(request, monkeypatch):
    """Run a test under each evaluator of a mode (generated code and the interpreter of the
    checked trees): suites that mark themselves with usefixtures("runner") run twice, as
    cel-python runs its conformance suite under both of its evaluators."""
    monkeypatch.setenv("VRAMRULES_RUNNER", request.param)
    return request.param


@pytest.fixture(scope="session")
def catalog():
    import vramrules

    return vramrules.load_catalog()


@pytest.fixture
def builtin_data():
    from vramrules.reading.datadir import builtin_data

    return builtin_data()
