"""YAML loading: positions, YAML 1.2 floats, and refusals (aliases, tags, duplicates, non-UTF-8)."""
import pytest

from vramrules.errors import DataError
from vramrules.reading.loader import load_file, load_text


def test_positions_are_one_based_line_and_column():
    doc = load_text("a:\n  b: 80 GiB\n", "f.yaml")
    assert doc.where(("a", "b")).line == 2 and doc.where(("a", "b")).col == 6


def test_exponent_floats_are_numbers_not_strings():
    # PyYAML alone reads 7e9 as the string '7e9' (YAML 1.1); data files mean a number
    assert load_text("x: 7e9\ny: 1.5e-3\n", "f.yaml").data == {"x": 7e9, "y": 1.5e-3}


def test_dates_become_iso_strings():
    assert load_text("reviewed: 2026-11-22\n", "f.yaml").data == {"reviewed": "2026-11-22"}


@pytest.mark.parametrize("text,message", [
    ("a: &x {k: 1}\nb: *x\n", "YAML aliases (*name) are not allowed"),
    ("a: 1\na: 2\n", "duplicate key 'a' (first defined at line 1)"),
    ("a: !!python/object:os.system {}\n", "unsupported tag"),
    ("a: !!python/name:os.system ''\n", "unsupported tag"),
    ("a: .inf\n", "is not finite"),
    ("a: .nan\n", "is not finite"),
    ("a: 1e400\n", "is not finite"),
    ("a:\n\tb: 1\n", "invalid YAML"),
    ("a: [1, 2\n", "invalid YAML"),
    ("<<: {a: 1}\n", "merge keys"),
])
def test_refusals_are_located(text, message):
    with pytest.raises(DataError) as e:
        load_text(text, "f.yaml")
    assert message in str(e.value)
    assert str(e.value).startswith("f.yaml:")


def test_billion_laughs_is_refused_quickly():
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(DataError) as e:
        load_text(lol, "lol.yaml")
    assert "aliases" in str(e.value)


def test_bom_is_accepted(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_file(p).data == {"a": 1}


def test_non_utf8_is_located(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(DataError) as e:
        load_file(p)
    assert ":2:4: not UTF-8: byte 0xff" in str(e.value)


def test_missing_file_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(DataError) as e:
        load_file(tmp_path / "nope.yaml")
    assert "cannot read file" in str(e.value)
