"""Golden cases as data (tests/cases/*.yaml): scenario in, expected figures out, each with the
source of the expected figure and a tolerance."""
from pathlib import Path

import pint
import pytest
import yaml

import vramrules

pytestmark = pytest.mark.usefixtures("runner")  # every test runs under both evaluators (conftest.runner)

CASES = Path(__file__).resolve().parent / "cases"
UREG = pint.UnitRegistry()  # independent of vramrules' own registry, on purpose


def _load():
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            scenario = {**doc.get("defaults", {}), **case["scenario"]}
            tol = case.get("tolerance", doc.get("tolerance", 1e-9))
            abs_tol = _expected(case["abs"]) if "abs" in case else 0.0
            out.append(pytest.param(path.name, scenario, case["expect"], (tol, abs_tol), id=f"{case['id']}-{'-'.join(str(v) for v in case['scenario'].values())}"))
    return out


def _expected(value) -> float:
    """'28 GB' -> bytes (GB = 1e9 B, GiB = 2^30 B); plain numbers stay counts."""
    if isinstance(value, (int, float)):
        return float(value)
    q = UREG.Quantity(str(value).replace("GiB", "gibibyte").replace("GB", "gigabyte").replace(" B", " byte"))
    return q.to("byte").magnitude


@pytest.mark.parametrize("file,scenario,expect,tol", _load())
def test_golden_case(file, scenario, expect, tol):
    sc = dict(scenario)
    for k in ("params",):
        if k in sc:
            sc[k] = float(sc[k])
    data = tuple(str(CASES / d) for d in sc.pop("data", ()))
    result = vramrules.evaluate(sc.pop("model", None), sc.pop("mode"), rules=sc.pop("rules"), data=data, **sc)
    for name, want in expect.items():
        got = result.total.bytes if name == "total" else result.values[name]
        want_b = _expected(want)
        rel, abs_tol = tol
        assert got == pytest.approx(want_b, rel=rel, abs=abs_tol or (0 if rel else 1e-9)), f"{file}: {name} = {got} want {want}"
