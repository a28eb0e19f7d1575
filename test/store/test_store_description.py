"""The store description: both shipped stores load; each malformed variant is refused naming its key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from restock.paths import SOURCE_ROOT
from restock.store.cli import main as check_store_main
from restock.store.description import StoreError, load_store, parse_store

STORES = SOURCE_ROOT / "config" / "stores"
SHIPPED = ("corner_store.yaml", "station_kiosk.yaml")


def _corner() -> dict:
    return yaml.safe_load((STORES / "corner_store.yaml").read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_stores_load(name: str) -> None:
    store = load_store(STORES / name)
    assert store.lanes and store.cameras
    for cam in store.cameras:
        assert store.lanes_seen_by(cam.id), f"{cam.id} sees no lane"
    for lv in store.lanes:
        assert store.stock_for_sku(lv.lane.sku)


def _set(path: str, value: object) -> Callable[[dict], None]:
    """A mutation setting a dotted/indexed path (a.b[0].c) to value; None deletes the key."""

    def mutate(d: dict) -> None:
        parts: list[str | int] = []
        for token in path.replace("]", "").split("."):
            name, *idx = token.split("[")
            parts.append(name)
            parts.extend(int(i) for i in idx)
        target = d
        for part in parts[:-1]:
            target = target[part]
        if value is None:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value

    return mutate


def _remove_stock_for(sku: str) -> Callable[[dict], None]:
    def mutate(d: dict) -> None:
        d["stock"]["locations"] = [loc for loc in d["stock"]["locations"] if loc["sku"] != sku]

    return mutate


def _dup_camera(d: dict) -> None:
    d["cameras"].append(copy.deepcopy(d["cameras"][0]))


def _turn_camera_away(d: dict) -> None:
    d["cameras"][0]["look_at"] = [0.65, 3.0, 1.25]  # looks away from the case


# (description, mutation, key that the message must name)
MALFORMED = [
    ("lane wider than its row", _set("case.rows[0].lanes[0].width", 3.0), "case.rows[0].lanes[0].width"),
    ("bottle without a diameter", _set("skus.cola_500.diameter", None), "skus.cola_500"),
    ("carton without a depth", _set("skus.orange_juice.depth", None), "skus.orange_juice"),
    ("camera that sees no lane", _turn_camera_away, "cameras[0]"),
    ("lane of an unknown SKU", _set("case.rows[0].lanes[0].sku", "beer"), "case.rows[0].lanes[0].sku"),
    ("lane id used twice", _set("case.rows[1].lanes[0].id", "r1_l01"), "case.rows[1].lanes[0].id"),
    ("capacity beyond the row depth", _set("case.rows[0].lanes[0].capacity", 20), "case.rows[0].lanes[0].capacity"),
    ("lanes overlap", _set("case.rows[0].lanes[1].x", 0.15), "case.rows[0].lanes"),
    ("lane too narrow for its SKU", _set("case.rows[0].lanes[0].width", 0.06), "case.rows[0].lanes[0].width"),
    ("lane outside the case", _set("case.rows[0].lanes[10].x", 2.38), "case.rows[0].lanes[10].x"),
    ("SKU too tall for the row", _set("skus.cola_500.height", 0.5), "case.rows[0].lanes[0].sku"),
    ("SKU with negative height", _set("skus.cola_500.height", -0.2), "skus.cola_500.height"),
    ("colour out of range", _set("skus.cola_500.color", [1.5, 0, 0]), "skus.cola_500.color[0]"),
    ("unknown container kind", _set("skus.cola_500.kind", "jar"), "skus.cola_500.kind"),
    ("unknown key", _set("skus.cola_500.flavour", "cherry"), "skus.cola_500.flavour"),
    ("tilt too steep", _set("case.rows[0].tilt_deg", 45), "case.rows[0].tilt_deg"),
    ("case x range reversed", _set("case.x_max", -1.0), "case.x_max"),
    ("case behind the rail", _set("case.back_y", 0.0), "case"),
    ("stock in front of the rail", _set("stock.y", 0.2), "stock.y"),
    ("stock over capacity", _set("stock.locations[0].quantity", 1000), "stock.locations[0].quantity"),
    ("stock of an unknown SKU", _set("stock.locations[0].sku", "beer"), "stock.locations[0].sku"),
    ("lane SKU without stock", _remove_stock_for("cola_500"), "case.rows[0].lanes[0].sku"),
    ("stock beyond the rail", _set("stock.locations[0].x", 9.0), "stock.locations[0].x"),
    ("joints out of order", _set("robot.joints[0].name", "lift_z"), "robot.joints"),
    ("joint limits reversed", _set("robot.joints[2].lower", 3.0), "robot.joints[2]"),
    ("no gripper", _set("robot.gripper", None), "robot.gripper"),
    ("zero upper arm", _set("robot.upper_arm", 0.0), "robot.upper_arm"),
    (
        "lift drive too weak for the heaviest SKU",
        _set("robot.drives", {"lift_z": {"inertia": 10.0, "kp": 1e4, "kd": 440.0, "max_effort": 90.0}}),
        "robot.drives.lift_z.max_effort",
    ),
    (
        "drive without a gain",
        _set("robot.drives", {"rail_x": {"inertia": 25.0, "kp": 0.0, "kd": 1.0, "max_effort": 300.0}}),
        "robot.drives.rail_x.kp",
    ),
    ("drive of no joint", _set("robot.drives", {"gantry": {}}), "robot.drives.gantry"),
    ("camera id used twice", _dup_camera, "cameras[2].id"),
    ("camera field of view zero", _set("cameras[0].fov_y_deg", 0), "cameras[0].fov_y_deg"),
    ("camera rate zero", _set("cameras[0].rate_hz", 0), "cameras[0].rate_hz"),
    ("camera looking at itself", _set("cameras[0].look_at", [0.65, 2.0, 1.25]), "cameras[0].look_at"),
    ("no cameras", _set("cameras", []), "cameras"),
    ("unsupported version", _set("version", 2), "version"),
    ("no name", _set("name", None), "name"),
]


@pytest.mark.parametrize(("what", "mutate", "key"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_store_is_refused_naming_the_key(what: str, mutate: Callable[[dict], None], key: str) -> None:
    data = _corner()
    mutate(data)
    with pytest.raises(StoreError) as err:
        parse_store(data, "corner_variant.yaml")
    message = str(err.value)
    assert message.startswith("corner_variant.yaml: "), message
    assert key in message, f"{what}: {message!r} does not name {key}"


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(StoreError, match="must be a mapping"):
        parse_store([1, 2], "list.yaml")


def test_bad_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("case: [unclosed\n")
    with pytest.raises(StoreError, match=r"bad\.yaml: not valid YAML"):
        load_store(bad)
    with pytest.raises(StoreError, match=r"missing\.yaml: cannot read"):
        load_store(tmp_path / "missing.yaml")


def test_check_store_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_store_main([str(STORES / n) for n in SHIPPED]) == 0
    assert capsys.readouterr().out.count(": ok (") == 2
    data = _corner()
    data["case"]["rows"][0]["lanes"][0]["width"] = 3.0
    bad = tmp_path / "wide.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert check_store_main([str(STORES / SHIPPED[0]), str(bad)]) == 1
    captured = capsys.readouterr()
    assert "case.rows[0].lanes[0].width" in captured.err and "wide.yaml" in captured.err
