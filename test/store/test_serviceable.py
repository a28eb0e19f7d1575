"""Can the robot serve a store: one check per reason, the same messages in check-store and in every node."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from restock.paths import SOURCE_ROOT
from restock.store.cli import main as check_store_main
from restock.store.description import StoreError, load_store, parse_store
from restock.store.serviceable import UnserviceableStore, busiest_gap_demand, problems, refill_gaps

STORES = SOURCE_ROOT / "config" / "stores"
SHIPPED = ("corner_store.yaml", "station_kiosk.yaml")
LOW_ROW_LANES = "r0_l02..r0_l06, r0_l10, r0_l11"


def _shipped(name: str) -> dict:
    return yaml.safe_load((STORES / name).read_text())


def low_row_store() -> dict:
    """The corner store with a fourth row under the others, its board at 0.15 m (the issue's store)."""
    data = _shipped("corner_store.yaml")
    rows = data["case"]["rows"]
    low = copy.deepcopy(rows[0])
    low["id"] = "r0"
    for lane in low["lanes"]:
        lane["id"] = lane["id"].replace("r1_", "r0_")
    rows.insert(0, low)
    for row, height in zip(rows, (0.15, 0.45, 0.75, 1.05), strict=True):
        row.update(height=height, clearance=0.28)
    return data


def _refused(data: dict) -> UnserviceableStore:
    with pytest.raises(UnserviceableStore) as err:
        parse_store(data, "variant.yaml")
    assert str(err.value).startswith("variant.yaml: ")
    return err.value


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_stores_are_serviceable(name: str) -> None:
    store = load_store(STORES / name)
    assert problems(store) == []


def test_low_row_is_refused_naming_the_row_the_lanes_and_the_lift() -> None:
    err = _refused(low_row_store())
    assert [str(p) for p in err.problems] == [
        f"case.rows[0]: lanes {LOW_ROW_LANES} load at z=0.215..0.249 m, below the lift's range (0.25..1.35 m)"
    ]
    # Only the cans and the carton (shorter than the bottles) load below 0.25 m (the grasp centre: over
    # a container's centre, the cans' raised so the fingers pass over the dividers).
    assert err.problems[0].lanes == ("r0_l02", "r0_l03", "r0_l04", "r0_l05", "r0_l06", "r0_l10", "r0_l11")


def test_lanes_beyond_the_arms_reach_are_named_per_row() -> None:
    data = _shipped("corner_store.yaml")
    data["case"]["back_y"] = 0.62  # loading points now too far from the rail
    err = _refused(data)
    assert [p.key for p in err.problems] == ["case.rows[0]", "case.rows[1]", "case.rows[2]"]
    first = str(err.problems[0])
    assert "lanes r1_l01..r1_l03, r1_l06..r1_l11: out of the arm's reach" in first
    assert "beyond reach" in first
    # The cans (thinner, so loaded nearer the rail) are still reached.
    assert "r1_l04" not in err.problems[0].lanes


def test_stock_above_the_lift_is_named() -> None:
    data = _shipped("corner_store.yaml")
    data["stock"]["locations"][0]["z"] = 1.3
    err = _refused(data)
    assert [str(p) for p in err.problems] == [
        "stock.locations[0]: stock location s_cola_500 is picked at z=1.405 m, above the lift's range (0.25..1.35 m)"
    ]
    assert err.problems[0].stock == ("s_cola_500",)


def test_an_arm_too_short_to_fold_in_the_corridor_is_refused() -> None:
    data = _shipped("corner_store.yaml")
    data["robot"].update(upper_arm=0.2, forearm=0.2)
    err = _refused(data)
    assert err.problems[0].key == "robot"
    assert "cannot fold into its carry shape" in str(err.problems[0])


def test_a_lane_no_camera_sees_is_named() -> None:
    data = _shipped("corner_store.yaml")
    data["cameras"] = [c for c in data["cameras"] if c["id"] == "cam_left"]
    err = _refused(data)
    assert [str(p) for p in err.problems] == [
        "case.rows[0]: lanes r1_l10, r1_l11: no camera can judge the front (r1_l10: cam_left: not in view)",
        "case.rows[1]: lanes r2_l09..r2_l11: no camera can judge the front (r2_l09: cam_left: not in view)",
        "case.rows[2]: lanes r3_l09..r3_l11: no camera can judge the front (r3_l09: cam_left: not in view)",
    ]


def test_a_lane_cut_by_the_image_border_is_named() -> None:
    data = _shipped("station_kiosk.yaml")
    cam = data["cameras"][0]
    cam["position"][0] += 0.45
    cam["look_at"][0] += 0.45
    err = _refused(data)
    assert [str(p) for p in err.problems] == [
        "case.rows[1]: lane r2_l01: no camera can judge the front "
        "(cam_front: cut by the image border (57% inside, needs 60%))"
    ]


def test_a_lane_front_too_small_to_judge_is_named() -> None:
    data = _shipped("corner_store.yaml")
    data["cameras"][1]["position"] = [1.75, 6.0, 1.25]  # far away: the right-hand fronts are a few pixels
    err = _refused(data)
    assert len(err.problems) == 3
    assert "cam_right: front only 5x16 px (needs 10 px a side)" in str(err.problems[0])
    assert err.problems[0].lanes == ("r1_l10", "r1_l11")


def test_a_back_room_smaller_than_the_demand_between_refills_is_refused() -> None:
    data = _shipped("corner_store.yaml")
    data["stock"]["refill"] = {"every_h": 24.0, "first_at_h": 5.0}
    for loc in data["stock"]["locations"]:
        loc.update(quantity=1, capacity=1)
    err = _refused(data)
    keys = {p.key for p in err.problems}
    assert keys and all(k.startswith("stock.locations[") and k.endswith("].capacity") for k in keys)
    store = err.store
    for p in err.problems:
        sku = p.reason.split(":")[0]
        sold = busiest_gap_demand(store)[sku][0]
        shelf = sum(lv.lane.capacity for lv in store.lanes if lv.lane.sku == sku)
        assert sold > 1 + shelf, p
        assert "busiest 24 h between refills" in p.reason and "holds 1 and its" in p.reason


def test_refill_gaps_cover_the_day() -> None:
    store = load_store(STORES / "corner_store.yaml")  # refills at 05, 11, 17, 23
    assert refill_gaps(store) == [(5.0, 6.0), (11.0, 6.0), (17.0, 6.0), (23.0, 6.0)]
    data = _shipped("corner_store.yaml")
    data["stock"]["refill"] = {"every_h": 8.0, "first_at_h": 6.0}
    assert refill_gaps(parse_store(data)) == [(6.0, 8.0), (14.0, 8.0), (22.0, 8.0)]


def test_kiosk_demand_matches_its_store_file_note() -> None:
    """The store file says its top SKU sells ~30 in its busiest 6 h: the check reads the same model."""
    demand = busiest_gap_demand(load_store(STORES / "station_kiosk.yaml"))
    top = max(demand, key=lambda sku: demand[sku][0])
    assert top == "sparkling_water_500" and 25 < demand[top][0] < 35 and demand[top][2] == 6.0


def test_check_store_rejects_the_low_row_store_and_accepts_the_shipped_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    low = tmp_path / "low_row.yaml"
    low.write_text(yaml.safe_dump(low_row_store()))
    assert check_store_main([str(STORES / n) for n in SHIPPED]) == 0
    assert capsys.readouterr().out.count(": ok (") == 2
    assert check_store_main([str(STORES / SHIPPED[0]), str(low)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count(": ok (") == 1
    assert f"{low}: the robot cannot serve this store" in captured.err
    assert f"case.rows[0]: lanes {LOW_ROW_LANES} load at z=0.215..0.249 m, below the lift's range" in captured.err


NODES = ["arm_controller", "planner", "shelf_camera", "sim", "teleop_bridge", "recorder"]


@pytest.mark.parametrize("node", NODES)
def test_every_node_stops_on_the_low_row_store_with_the_same_message(tmp_path: Path, node: str) -> None:
    low = tmp_path / "low_row.yaml"
    low.write_text(yaml.safe_dump(low_row_store()))
    with pytest.raises(StoreError) as err:
        load_store(low)
    exe = Path(sys.executable).parent / f"restock-{node.replace('_', '-')}"
    params = ["-p", f"store_file:={low}", "-p", "camera_id:=cam_left"] if node == "shelf_camera" else []
    proc = subprocess.run(
        [str(exe), "--ros-args", "-p", f"store_file:={low}", *params],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert str(err.value) in proc.stderr


def test_rows_that_overlap_or_slope_under_the_floor_are_refused() -> None:
    data = _shipped("corner_store.yaml")
    data["case"]["rows"][0]["clearance"] = 0.45  # r1 at 0.30 now reaches 0.75, above r2's board at 0.68
    err = _refused(data)
    assert str(err.problems[0]) == (
        "case.rows[0].clearance: row r1's 0.45 m above its board at 0.3 m reaches 0.750 m, above row r2's board at 0.68 m"
    )
    data = _shipped("corner_store.yaml")
    data["case"]["rows"][0].update(height=0.05, tilt_deg=10.0)
    err = _refused(data)
    assert err.problems[0].key == "case.rows[0].height" and "under the floor" in str(err.problems[0])


def test_an_approach_point_above_the_lift_is_named() -> None:
    data = _shipped("corner_store.yaml")
    data["stock"]["locations"][0]["z"] = 1.24  # picked at 1.345 m, lifted 1 cm before pulling out
    err = _refused(data)
    assert [str(p) for p in err.problems] == [
        "stock.locations[0]: stock location s_cola_500: the lifted approach is at z=1.355 m, "
        "above the lift's range (0.25..1.35 m)"
    ]


COOLER = SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml"


def test_the_walk_in_cooler_edge_lanes_are_loadable_so_the_store_is_serviceable() -> None:
    # r2_l01..r4_l01 clash straight in (54 handoffs a day); the mover turns the tool for them.
    assert problems(load_store(COOLER)) == []


def test_a_lane_the_arm_reaches_but_cannot_go_into_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(COOLER.read_text())
    # A wide can in one lane: held by it, the arm's wrist comes over the back plane, and at that row's
    # clearance its top is under the shelf above (at any tool yaw tried).
    data["skus"]["big_can_500"] = {
        **data["skus"]["fizz_lime_350"],
        "name": "Big can 500 ml",
        "diameter": 0.095,
        "height": 0.18,
    }
    data["case"]["rows"][1]["lanes"][4].update(sku="big_can_500", width=0.11, capacity=6)
    data["stock"]["locations"].append(
        {"id": "s_big_can_500", "sku": "big_can_500", "x": 3.95, "z": 0.3, "quantity": 50, "capacity": 50}
    )
    err = _refused(data)
    assert [(p.key, p.lanes) for p in err.problems] == [("case.rows[1].lanes[4]", ("r2_l05",))]
    reason = str(err.problems[0])
    assert reason.startswith("case.rows[1].lanes[4]: lane r2_l05 cannot be loaded: going straight in from ")
    assert "turned up to 0.2 rad, the arm enters keep-out: case" in reason
    bad = tmp_path / "narrow_edge_lane.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert check_store_main([str(bad)]) == 1
    assert f"{bad}: the robot cannot serve this store" in capsys.readouterr().err
