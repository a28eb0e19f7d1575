"""The executor with a wrist camera, against the embedded MuJoCo world: a stock mix-up is never
placed, a lane counted full from behind gets no container."""

from __future__ import annotations

from restock import records
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor, ExecutorSettings, Phase
from restock.motion.kinematics import ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import SOURCE_ROOT
from restock.sim.armloop import run
from restock.sim.world import World
from restock.store.description import load_store

LANE = "r3_l11"


def _setup(tmp_path, fill: float = 0.5):
    store = load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")
    world = World(store, seed=3, fill=fill)
    mover = Mover(store, Envelope(ArmModel.from_store(store)))
    executor = Executor(mover, TaskStore(tmp_path / "tasks.sqlite"), ExecutorSettings(wrist_camera=True))
    lane = store.lane_by_id[LANE]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    return store, world, executor, lane, loc


def _task(lane, loc, quantity: int, task_id: str = "t1") -> records.RestockTask:
    return records.RestockTask(
        task_id=task_id, lane_id=lane.id, sku=lane.lane.sku, quantity=quantity, stock_location=loc.id, created=0.0
    )


def _placed_wrong(world: World) -> list:
    lanes = world.store.lane_by_id
    return [e for e in world.events if e.kind == "placed" and e.sku != lanes[e.lane_id].lane.sku]


def _result(published) -> records.TaskResult | None:
    return next((r for r in published if isinstance(r, records.TaskResult)), None)


def test_a_stock_mix_up_goes_back_and_becomes_a_handoff(tmp_path) -> None:
    _store, world, ex, lane, loc = _setup(tmp_path)
    wrong = world.put_mixup(loc.id)
    assert wrong != lane.lane.sku
    before, stock = world.lane_count(lane.id), world.stock_quantity(loc.id)
    ex.submit(_task(lane, loc, 1), world.time)
    published = run(world, ex, 90.0, until=lambda p: any(isinstance(r, records.HandoffRequest) for r in p))
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    assert request.kind == "wrong_item" and request.stock_location == loc.id, request
    assert wrong in request.detail and lane.lane.sku in request.detail
    assert _result(published).outcome == "parked"
    # Never placed: back at its location's front, the lane and the location's count as they were.
    assert not _placed_wrong(world) and world.lane_count(lane.id) == before
    assert world.shelves.mixups[loc.id] == [wrong] and world.stock_quantity(loc.id) == stock
    assert world.held() is None and ex.phase is Phase.IDLE
    # A person takes it out; the operator's answer resumes the task, which places the right SKU.
    assert world.clear_mixups(loc.id) == 1
    resolution = records.HandoffResolution(
        request_id=request.request_id, operator="ana", action="retried", stamp=world.time
    )
    ex.resolve(resolution, world.time)
    published = run(world, ex, 90.0, until=lambda p: _result(p) is not None)
    assert _result(published).outcome == "done" and _result(published).placed == 1
    world.step(6.0)  # it slides home
    assert world.lane_count(lane.id) == before + 1 and not _placed_wrong(world)


def test_a_lane_counted_full_from_behind_gets_no_container(tmp_path) -> None:
    store, world, ex, lane, loc = _setup(tmp_path)
    world.fill_lanes({lane.id: lane.lane.capacity})
    stock = world.stock_quantity(loc.id)
    ex.submit(_task(lane, loc, 2), world.time)
    published = run(world, ex, 60.0, until=lambda p: _result(p) is not None)
    result = _result(published)
    assert result.outcome == "partial" and result.placed == 0 and "counted full" in result.reason, result
    assert world.stock_quantity(loc.id) == stock  # nothing was even picked
    assert not [e for e in world.events if e.kind in ("grasp", "dropped")]
    # The count went out as the wrist camera's view of the lane.
    (obs,) = [r for r in published if isinstance(r, records.ShelfObservation)]
    assert obs.camera_id == store.robot.wrist_camera.id and obs.lanes[0].fill == 1.0


def test_a_lane_with_room_for_one_gets_one(tmp_path) -> None:
    _store, world, ex, lane, loc = _setup(tmp_path)
    world.fill_lanes({lane.id: lane.lane.capacity - 1})
    ex.submit(_task(lane, loc, 3), world.time)
    published = run(world, ex, 90.0, until=lambda p: _result(p) is not None)
    result = _result(published)
    assert result.outcome == "partial" and result.placed == 1, result
    assert world.lane_count(lane.id) == lane.lane.capacity
    assert not [e for e in world.events if e.kind == "dropped"]
