"""Hostile store files and sales logs: the ones an attacker tried, made on demand.

Shared by test/store/test_store_files_hostile.py, test/demand/test_saleslog.py and
bench/hostile_files.py, so the tests and the figures are about the same files.
"""

from __future__ import annotations

from pathlib import Path

from restock.paths import store_file


def alias_bomb(lanes: int = 3000, rows: int = 3000) -> str:
    """A store-shaped file whose aliases stand for lanes x rows lanes (28 KB at 3,000 x 3,000)."""
    return (
        "version: 1\nname: bomb\n"
        "lane: &l {id: r1_l01, x: 0.1, width: 0.08, sku: cola_500, capacity: 4}\n"
        f"row: &r {{id: r1, height: 1.0, depth: 0.5, tilt_deg: 8, clearance: 0.3, lanes: [{', '.join(['*l'] * lanes)}]}}\n"
        f"case: {{x_min: 0, x_max: 2.4, back_y: 0.6, rows: [{', '.join(['*r'] * rows)}]}}\n"
    )


DEEP_KINDS = ("flow", "block", "mapping", "lines")


def deep_nesting(kind: str, depth: int = 5000) -> str:
    """``case:`` nested ``depth`` levels deep, written four ways (``lines`` is 12.5 MB at 5,000)."""
    if kind == "flow":
        return "case: " + "[" * depth + "]" * depth + "\n"
    if kind == "block":
        return "case:\n" + "- " * depth + "x\n"
    if kind == "mapping":
        return "case: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "lines":
        return "case:\n" + "".join(" " * i + "-\n" for i in range(depth))
    raise ValueError(f"unknown kind {kind!r}; one of {DEEP_KINDS}")


def store_not_utf8() -> bytes:
    """The corner store with one SKU's name in Latin-1 ('Caf\\xe9')."""
    return store_file("corner_store.yaml").read_bytes().replace(b"name: Cola 500 ml", b"name: Cola Caf\xe9", 1)


def store_duplicate_key() -> str:
    """The corner store with the first SKU's price written twice (the second on the next line)."""
    text = store_file("corner_store.yaml").read_text()
    return text.replace("    price: 1.6\n", "    price: 1.6\n    price: 0.01\n", 1)


def sales_log_lines(n: int, header: str = "timestamp,sku,quantity,lane_id\n") -> list[str]:
    """A sales log of n good lines (one cola a second from 2026-07-20 08:00 UTC), header first."""
    t0 = 1_784_534_400
    return [header] + [f"{t0 + i},cola_500,1,\n" for i in range(n)]


def sales_log_bad_byte(n: int, bad_line: int) -> tuple[bytes, int]:
    """A sales log of n lines with byte 0xff in place of the 'o' of cola on line bad_line;
    returns the bytes and the offset of the bad byte."""
    lines = sales_log_lines(n)
    at = sum(len(line) for line in lines[: bad_line - 1]) + lines[bad_line - 1].index("cola") + 1
    data = "".join(lines).encode()
    return data[:at] + b"\xff" + data[at + 1 :], at


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path
