"""`restock check-store FILE --draw OUT.png` writes a picture of the store, failing lanes outlined in red."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from test_serviceable import low_row_store

from restock.paths import SOURCE_ROOT
from restock.store.cli import main as check_store_main
from restock.store.draw import FAIL

STORES = SOURCE_ROOT / "config" / "stores"


def _red_pixels(path: Path) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = tuple(int(FAIL[i : i + 2], 16) for i in (1, 3, 5))
    return int(np.all(np.abs(rgb - red) <= 12, axis=2).sum())


def _png(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("name", ["corner_store.yaml", "station_kiosk.yaml"])
def test_draw_writes_a_png_of_a_shipped_store(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pictures" / f"{name}.png"
    assert check_store_main([str(STORES / name), "--draw", str(out)]) == 0
    assert "drawn to" in capsys.readouterr().out
    width, height = _png(out)
    assert width >= 1200 and height >= 1000


def test_draw_outlines_the_lanes_that_fail_in_red(tmp_path: Path) -> None:
    low = tmp_path / "low_row.yaml"
    low.write_text(yaml.safe_dump(low_row_store()))
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    assert check_store_main([str(STORES / "corner_store.yaml"), "--draw", str(good)]) == 0
    # A store the robot cannot serve is refused and still drawn, so one can see why.
    assert check_store_main([str(low), "--draw", str(bad)]) == 1
    _png(bad)
    # Only the legend's swatch is red in the good store; seven lanes are outlined in the bad one.
    assert _red_pixels(bad) > _red_pixels(good) + 2000


def test_draw_takes_one_store(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        check_store_main([str(STORES / "corner_store.yaml"), str(STORES / "station_kiosk.yaml"), "--draw", "x.png"])
