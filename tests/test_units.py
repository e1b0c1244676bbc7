"""Units: the project's own registry (data/units.txt), GB versus GiB, dimension errors."""
import pytest

from vramrules.reading import units


def test_display_factors_agree_with_the_registry():
    reg = units.registry()
    for name, factor in units.DISPLAY_UNITS.items():
        assert reg.Quantity(1, name).to("byte").magnitude == pytest.approx(factor, rel=0, abs=0)


def test_gb_and_gib_are_different_units():
    # 1 GB = 10^9 B (SI), 1 GiB = 2^30 B (IEC 80000-13)
    assert units.canonical(units.quantity("1 GB")) == 1e9
    assert units.canonical(units.quantity("1 GiB")) == 2**30
    # an H100 '80 GB' reports 81559 MiB (shared/reference/public-cases.yaml)
    assert units.canonical(units.quantity("81559 MiB")) == 81559 * 2**20


def test_bits_are_information():
    assert units.canonical(units.quantity("4.5 bit")) == 0.5625
    assert units.dimension_of(units.quantity("16 bit")) == "[information]"


def test_bytes_and_params_have_different_dimensions():
    assert units.quantity("1 B").dim != units.quantity("1 param").dim
    assert str(units.quantity("3.35 TB/s").dim) == "[information] / [time]"
    assert units.quantity("3.35 TB/s").value == 3.35e12


def test_unit_table_agrees_with_pint():
    """The cached table is Pint's registry, unit by unit (factor and dimension)."""
    reg = units.registry()
    for name, (factor, dim) in units.table().items():
        q = reg.Quantity(1, name)
        assert q.to_base_units().magnitude == pytest.approx(factor, rel=1e-12), name
        assert units.parse_dim(dim) == units.Dim.of((str(k), float(e)) for k, e in q.dimensionality.items()), name


def test_unknown_unit_suggests():
    with pytest.raises(units.UnitProblem) as e:
        units.quantity("80 GiBB")
    assert e.value.hint == "did you mean 'GiB'?"


@pytest.mark.parametrize("text", ["GiB", "", "eighty GiB", True, None, [1]])
def test_not_a_quantity(text):
    with pytest.raises(units.UnitProblem):
        units.quantity(text)


def test_registry_is_the_projects_own_file():
    reg = units.registry()
    import pint

    with pytest.raises(pint.errors.UndefinedUnitError):
        reg.Quantity(1, "meter")  # not in data/units.txt: no default_en.txt


def test_shipped_unit_table_matches_units_txt_and_pint():
    """data/units.table.json spares a first run the Pint import; it must be Pint's table of the
    current units.txt (regenerate with `python -m vramrules.reading.units`)."""
    import hashlib
    import json

    from vramrules.reading.datadir import builtin_data

    doc = json.loads((builtin_data() / "units.table.json").read_text(encoding="utf-8"))
    assert doc["units_txt_sha256_20"] == hashlib.sha256((builtin_data() / "units.txt").read_bytes()).hexdigest()[:20]
    assert {k: tuple(v) for k, v in doc["table"].items()} == {k: tuple(v) for k, v in units.build_table().items()}


def test_the_unit_table_is_made_of_what_units_txt_declares():
    """No list of unit words in code: a unit or prefix added to units.txt is in the table."""
    text = (units.builtin_data() / "units.txt").read_text(encoding="utf-8")
    words, prefixes = units.declared_names(text + "\nnibble = 4 * bit = nib\nexbi- = 2**60 = Ei-\n")
    assert {"nibble", "nibbles", "nib"} <= set(words) and {"exbi", "Ei"} <= set(prefixes)
    assert {"byte", "B", "bit", "param", "token", "second"} <= set(words) and {"Gi", "G", "giga", "gibi", ""} <= set(prefixes)
    assert "GiB" in units.build_table() and units.build_table()["GiB"] == (2.0**30, "[information]")
