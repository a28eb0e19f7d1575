"""Lanes at the end of the rail's travel: the folded arm's forearm crosses the case's back plane at a
slant beside the slot, so straight in it clashes (the walk-in cooler with its rail starting 2 cm
further in; with the envelope's coarser body model of session 7 the cooler itself had 54
'unreachable' handoffs a day at r2_l01); the mover turns the tool a little and loads them."""

from __future__ import annotations

import pytest
import yaml

from restock import records
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor
from restock.motion.kinematics import PLACE_YAW, ArmModel, Pose, place_pose
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.motion.trajectory import PlanError
from restock.paths import SOURCE_ROOT
from restock.sim.armloop import run
from restock.sim.world import World
from restock.store.description import Store, load_store

STORE_FILES = [
    *sorted((SOURCE_ROOT / "config" / "stores").glob("*.yaml")),
    *sorted((SOURCE_ROOT / "test" / "data" / "stores").glob("*.yaml")),
]
COOLER = SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml"


def _cooler_with_shorter_rail() -> Store:
    raw = yaml.safe_load(COOLER.read_text())
    raw["robot"]["joints"][0]["lower"] = 0.02  # rail_x: the carriage stops 2 cm short of the first lanes
    return Store.model_validate(raw)


def _mover(store: Store) -> Mover:
    return Mover(store, Envelope(ArmModel.from_store(store)))


def _place_moves(m: Mover, lane_id: str) -> None:
    """The executor's placement moves from the lifted pick: carry, approach (held), retreat (empty,
    the fingers as the release left them)."""
    lane = m.store.lane_by_id[lane_id]
    held, openings = m.held_for(lane.lane.sku), m.lane_openings(lane_id)
    loc = m.store.stock_for_sku(lane.lane.sku)[0]
    q = m.solve(m.pre_pick(loc.id, lifted=True), None)
    carry = m.joint_move(q, m.pre_place(lane_id), held, openings)
    approach = m.line(carry.final, m.place(lane_id), held, openings)
    released = Executor(m, TaskStore()).grip.release_opening(lane_id)  # the fingers as the release leaves them
    m.line(approach.final, m.pre_place(lane_id), None, openings, released)


@pytest.mark.parametrize("lane_id", ["r2_l01", "r3_l01"])
def test_straight_in_the_folded_arm_enters_the_case_beside_the_slot(lane_id: str) -> None:
    store = _cooler_with_shorter_rail()
    m = _mover(store)
    lane = store.lane_by_id[lane_id]
    straight = place_pose(store, lane_id)
    assert straight.yaw == PLACE_YAW
    before = m.pre_place(lane_id)
    with pytest.raises(PlanError, match=r"enters keep-out: case|no carriage position"):
        q = m.solve(Pose(before.x, before.y, before.z, PLACE_YAW), None)
        m.line(q, straight, m.held_for(lane.lane.sku), m.lane_openings(lane_id))
    # The mover turns the tool instead, and the whole placement plans.
    assert m.place(lane_id).yaw != PLACE_YAW and m.placement_clash(lane_id) is None
    assert (m.place(lane_id).x, m.place(lane_id).y, m.place(lane_id).z) == (straight.x, straight.y, straight.z)
    _place_moves(m, lane_id)


def test_lanes_that_fit_straight_in_are_loaded_straight_in() -> None:
    store = load_store(COOLER)
    m = _mover(store)
    for lane_id in ("r1_l01", "r2_l01", "r2_l02", "r2_l26", "r4_l01"):
        assert m.pre_place(lane_id).yaw == m.place(lane_id).yaw == PLACE_YAW


@pytest.mark.parametrize("path", STORE_FILES, ids=lambda p: p.stem)
def test_every_lane_of_every_store_plans_its_placement(path) -> None:
    store = load_store(path)
    m = _mover(store)
    failed = {}
    for lane in store.lanes:
        try:
            _place_moves(m, lane.id)
        except PlanError as err:
            failed[lane.id] = str(err)
    assert failed == {}


@pytest.mark.parametrize("lane_id", ["r2_l01", "r3_l01"])
def test_a_task_loads_the_edge_lane_in_the_world(lane_id: str, tmp_path) -> None:
    store = _cooler_with_shorter_rail()
    world = World(store, seed=3, render=False, fill=0.5)
    ex = Executor(_mover(store), TaskStore(tmp_path / "tasks.sqlite"))
    lane = store.lane_by_id[lane_id]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    task = records.RestockTask(
        task_id="t1", lane_id=lane_id, sku=lane.lane.sku, quantity=2, stock_location=loc.id, created=0.0
    )
    before = world.lane_count(lane_id)
    assert ex.submit(task, world.time) == []
    published = run(world, ex, 120.0, until=lambda p: any(isinstance(r, records.TaskResult) for r in p))
    assert not [r for r in published if isinstance(r, records.HandoffRequest)]
    results = [r for r in published if isinstance(r, records.TaskResult)]
    assert results and results[0].outcome == "done" and results[0].placed == 2, results
    world.step(6.0)  # what was let go is judged once it has been still a while
    assert world.lane_count(lane_id) == before + 2
