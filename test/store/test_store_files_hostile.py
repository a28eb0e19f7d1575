"""Hostile store and config files: each refused with a message naming the file, the line and why.

The times these refusals take are measured in bench/hostile_files.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from restock.graph.description import load_graph
from restock.params import ConfigError
from restock.paths import store_file
from restock.store.cli import main as check_store_main
from restock.store.description import StoreError, load_store
from restock.testing.hostile_files import DEEP_KINDS, alias_bomb, deep_nesting, store_duplicate_key, store_not_utf8
from restock.yamlfile import MAX_BYTES, MAX_VALUES, YamlFileError, load_yaml_file

CORNER = store_file("corner_store.yaml")


def test_alias_bomb_is_refused_by_check_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert 20_000 < path.stat().st_size < 40_000
    assert check_store_main([str(path)]) == 1
    err = capsys.readouterr().err
    # The rows line, where the count of lanes the aliases stand for passes the budget.
    assert "bomb.yaml: line 5, column " in err and f"more than {MAX_VALUES:,} values with aliases expanded" in err
    assert "Traceback" not in err


def test_aliases_within_the_budget_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text("red: &red [0.9, 0.1, 0.1]\nskus:\n  a: {color: *red}\n  b: {color: *red, <<: {price: 2}}\n")
    assert load_yaml_file(path) == {
        "red": [0.9, 0.1, 0.1],
        "skus": {"a": {"color": [0.9, 0.1, 0.1]}, "b": {"color": [0.9, 0.1, 0.1], "price": 2}},
    }


@pytest.mark.parametrize("kind", DEEP_KINDS)
def test_5000_deep_nesting_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(deep_nesting(kind))  # "lines" is over the size budget
    with pytest.raises(StoreError, match=r"deep\.yaml: .*(nest|larger than)") as info:
        load_store(path)
    assert "line" in str(info.value) or "larger than" in str(info.value)


def test_nesting_just_within_the_depth_budget_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: " + "[" * 60 + "]" * 60 + "\n")
    assert load_yaml_file(path) is not None


def test_non_utf8_store_names_line_column_and_byte(tmp_path: Path) -> None:
    data = store_not_utf8()
    line = data[: data.index(b"Caf")].count(b"\n") + 1
    byte = data.index(b"\xe9")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(data)
    with pytest.raises(StoreError, match=rf"latin1\.yaml: line {line}, column 19 \(byte {byte}\): not UTF-8 text"):
        load_store(path)


def test_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = store_duplicate_key()
    first = text[: text.index("    price: 1.6\n")].count("\n") + 1
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(
        StoreError, match=rf"dup\.yaml: line {first + 1}, column 5: duplicate key 'price' \(first at line {first}\)"
    ):
        load_store(path)


def test_duplicate_key_in_flow_mapping_and_by_value(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: {x: 1, 'x': 2}\n")
    with pytest.raises(YamlFileError, match=r"line 1, column 11: duplicate key 'x' \(first at line 1\)"):
        load_yaml_file(path)
    path.write_text("1: a\n0x1: b\n")  # the same integer written two ways
    with pytest.raises(YamlFileError, match="line 2, column 1: duplicate key '0x1'"):
        load_yaml_file(path)


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + CORNER.read_bytes())
    assert load_store(path) == load_store(CORNER)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "1" * 5000 + "\n", r"line 1, column 4: cannot read the value '1111.*digits"),
        ("a: 2026-02-31\n", "line 1, column 4: cannot read the value '2026-02-31': day is out of range"),
        ("a: 1\nb: x\0y\n", "line 2, column 5: character U\\+0000 is not allowed"),
        ("a: &a [1, *a]\n", r"line 1, column 11: alias \*a is used inside the value it names"),
        ("a: *nowhere\n", "not valid YAML at line 1, column 4: found undefined alias"),
        (
            "a: 1\n---\nb: 2\n",
            "not valid YAML at line 2, column 1: expected a single document in the stream, but found another",
        ),
        ("case: [unclosed\n", "not valid YAML at line 2, column 1"),
    ],
)
def test_other_bad_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StoreError, match=rf"bad\.yaml: {message}"):
        load_store(path)


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [" + "1," * (MAX_BYTES // 2) + "1]\n")
    with pytest.raises(StoreError, match=rf"big\.yaml: larger than {MAX_BYTES:,} bytes"):
        load_store(path)


def test_configs_use_the_same_reader(tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text("nodes:\n  sim: {}\n  sim: {}\n")
    with pytest.raises(ConfigError, match=r"graph\.yaml: line 3, column 3: duplicate key 'sim' \(first at line 2\)"):
        load_graph(path)
