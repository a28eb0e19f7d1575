"""A store day on contact physics, event by event: what the physics did against what the arm noticed.

Reads a finished ``restock sim`` run (``<run>/<policy>/restock*.mcap``: the simulator's ground
truth, the handoffs, the task results; ``<run>/<policy>/logs/arm_controller.log``: the executor's
notices) and prints:

- placements: containers let go into a lane and how each ended (``placed``: resting in its lane;
  ``jammed``, ``tipped``, ``dropped`` out of the lane, ``physics_unstable``), the resting share
  (goal >= 99.5%), placements into a full lane (goal 0), arm collisions (goal 0);
- every placement that did not end resting, matched to the ``blocked_lane`` handoff the arm raised
  for that lane after it (goal: none unmatched), and every slipped grasp or container lost while
  carried, matched to the executor's notice after it (goal: none unmatched);
- handoffs the arm raised that no physical failure explains (a false alarm).

``--in-process STORE`` runs the day itself instead, in one process with no ROS: the same executor
(wrist camera on) and the same contact physics, customers from the demand model at ``--containers-per-day``,
the simulator's seeded faults (a stock container nudged, a lane's back container tipped, a release
flicked) at ``--faults-per-hour``, and an operator who answers each handoff ``--operator-s`` later as the
simulator node does (a jammed lane set straight, a wrong item taken out). The planner is a top-up rule
(the lane with the most room, four containers a task whatever the room: the wrist camera's count must stop
the arm at a full lane). A whole day this way takes minutes, not the hours of a graph day; the figures are
the same, and the run prints its progress every sim hour.

Example (3 hours of the walk-in cooler at 1,000 containers a day)::

    restock sim --store config/stores/walk_in_cooler.yaml --days 0.125 --start 2026-07-06T07:00:00 \\
        --containers-per-day 1000 --initial-fill 0.25 --camera-period 60 --seed 7 --out var/runs/physics-cooler
    .venv/bin/python bench/physics_day.py var/runs/physics-cooler
    .venv/bin/python bench/physics_day.py --in-process walk_in_cooler --hours 24
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("MUJOCO_GL", "egl")

from sim_speed import next_task  # the top-up rule
from wrist_day import read  # the run's records by topic

from restock import records, topics
from restock.demand.generator import DemandGenerator
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor, ExecutorSettings
from restock.motion.kinematics import ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import store_file
from restock.sim.armloop import apply, joints
from restock.sim.world import World
from restock.store.description import load_store

NOTICE = re.compile(r"noticed (\w+) at ([0-9.]+): (.*)")
MATCH_S = 120.0  # sim s: a notice or handoff this soon after the event answers it


def notices(run: Path) -> list[tuple[float, str, str]]:
    """The executor's notices from the arm controller's log(s): (sim time, what, detail)."""
    out = []
    for log in sorted(run.rglob("arm_controller.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = NOTICE.search(line)
            if m:
                out.append((float(m.group(2)), m.group(1), m.group(3)))
    return sorted(out)


def placement_failures(events: list[records.SimEvent]) -> list[records.SimEvent]:
    """A container let go into a lane that did not come to rest in it (one event per container)."""
    out = [e for e in events if e.kind in ("jammed", "tipped") and not e.detail.startswith("fault")]
    out += [e for e in events if e.kind == "dropped" and e.lane_id and "fell out" in e.detail]
    out += [e for e in events if e.kind == "physics_unstable" and e.detail.startswith("place")]
    return sorted(out, key=lambda e: e.stamp)


def match(failures: list, answers: list[tuple[float, str]], key) -> list:
    """The failures no answer (time, key) follows within MATCH_S; each answer used once."""
    free = sorted(answers)
    missed = []
    for f in failures:
        hit = next((a for a in free if f.stamp - 1.0 <= a[0] <= f.stamp + MATCH_S and a[1] == key(f)), None)
        if hit is None:
            missed.append(f)
        else:
            free.remove(hit)
    return missed


def in_process_day(args: argparse.Namespace) -> tuple[list, list, list, float, int, int]:
    """The day run here (see the module's doc): (world events, handoffs, notices, sim hours, sales, lost)."""
    store = load_store(store_file(args.in_process))
    world = World(store, seed=args.seed, start_time=args.start, fill=args.initial_fill, physics=True)
    world.set_demand(DemandGenerator.for_daily_total(store, args.containers_per_day, seed=args.seed))
    end = world.time + args.hours * 3600.0
    if args.faults_per_hour > 0:
        world.random_faults(args.faults_per_hour, until=end)
    ex = Executor(Mover(store, Envelope(ArmModel.from_store(store))), TaskStore(), ExecutorSettings(wrist_camera=True))
    events: list[records.SimEvent] = []
    published: list = []
    answers: list[tuple[float, records.HandoffRequest]] = []
    tasks, heard, t0, next_report = 0, 0, time.perf_counter(), world.time + 3600.0
    while world.time < end - 1e-9:
        if ex.active is None and not ex.queue and (task := next_task(world, tasks, quantity=4)) is not None:
            ex.submit(task, world.time)
            tasks += 1
        q, grip = joints(world)
        before = len(published)
        apply(world, ex.tick(world.time, q, grip), published, ex)
        answers += [
            (world.time + args.operator_s, r) for r in published[before:] if isinstance(r, records.HandoffRequest)
        ]
        for due, request in [a for a in answers if a[0] <= world.time]:
            answers.remove((due, request))
            answer_handoff(world, ex, request)
        wake = ex.wake_at(world.time + 0.01)
        until = min([end, world.time + 30.0 if wake is None else wake, *(a[0] for a in answers)])
        world.step(max(until - world.time, 0.01))
        heard = min(heard, len(world.events))  # the world trims its oldest events now and then
        for e in world.events[heard:]:
            events.append(e)
            if e.kind == "sale" and e.sku:  # the till tells the arm of each sale at once
                ex.on_sale(records.SaleEvent(stamp=e.stamp, sku=e.sku, quantity=1, lane_id=e.lane_id))
        heard = len(world.events)
        if world.time >= next_report:
            next_report += 3600.0
            placed = sum(e.kind == "placed" for e in events)
            print(
                f"  {(world.time - world.start_time) / 3600:.0f} sim h: {tasks} tasks, {placed} placed, wall {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    handoffs = [r for r in published if isinstance(r, records.HandoffRequest)]
    return events, handoffs, list(ex.noticed), args.hours, sum(world.sales.values()), sum(world.lost_sales.values())


def answer_handoff(world: World, ex: Executor, request: records.HandoffRequest) -> None:
    """An operator answers: what a person on site does first (as the simulator node does), then "retried"."""
    if request.kind == "blocked_lane" and request.lane_id:
        world.unstick_lane(request.lane_id)
    if request.kind == "wrong_item" and request.stock_location:
        world.clear_mixups(request.stock_location)
    if request.kind in ("obstruction", "unfamiliar_item"):
        world.clear_foreign(request.lane_id)
    answer = records.HandoffResolution(request_id=request.request_id, operator="op", action="retried", stamp=world.time)
    apply(world, ex.resolve(answer, world.time), [], ex)


def explained(handoff: records.HandoffRequest, failures: list, tipped: list, cleared: list) -> bool:
    """A blocked_lane handoff has a failure behind it: a placement that did not rest shortly before,
    or a fault that tipped a container in that lane since a person last cleared it."""
    lane, t = handoff.lane_id, handoff.stamp
    if any(e.lane_id == lane and e.stamp - 1 <= t <= e.stamp + MATCH_S for e in failures):
        return True
    since = max((e.stamp for e in cleared if e.lane_id == lane and e.stamp <= t), default=float("-inf"))
    return any(e.lane_id == lane and since < e.stamp <= t for e in tipped)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, nargs="?", help="the run directory of restock sim (--out)")
    ap.add_argument("--in-process", metavar="STORE", help="run the day here on this store instead")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--start", default="2026-07-06T06:00:00")
    ap.add_argument("--containers-per-day", type=float, default=1000.0)
    ap.add_argument("--initial-fill", type=float, default=0.5)
    ap.add_argument("--faults-per-hour", type=float, default=2.0)
    ap.add_argument("--operator-s", type=float, default=60.0, help="sim s from a handoff to its answer")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"$ {' '.join([sys.executable, *sys.argv])}")
    if args.in_process:
        events, handoffs, noticed, hours, sales, lost = in_process_day(args)
    elif args.run is not None:
        got = read(args.run)
        truths = got["/" + topics.SIM_GROUND_TRUTH]
        if not truths:
            print(f"no ground truth recorded under {args.run}", file=sys.stderr)
            return 1
        events = [e for t in truths for e in t.events]
        handoffs, noticed = got["/" + topics.HANDOFF_REQUESTS], notices(args.run)
        hours = (truths[-1].stamp - truths[0].stamp) / 3600
        sales, lost = sum(truths[-1].sales.values()), sum(truths[-1].lost_sales.values())
    else:
        ap.error("give a run directory or --in-process STORE")
    return report(events, handoffs, noticed, hours, sales, lost)


def report(events: list, handoffs: list, noticed: list, hours: float, sales: int, lost: int) -> int:
    """Print the day's figures; 1 if a failure went unnoticed."""
    kinds = Counter(e.kind for e in events)
    failures = placement_failures(events)
    placed = kinds["placed"]
    let_go = placed + len(failures)
    full = [e for e in events if e.kind in ("placed", "jammed", "dropped") and "lane was full" in e.detail]
    print(f"{hours:.2f} sim hours; sales {sales}, lost {lost}")
    print(f"world events: { {k: kinds[k] for k in sorted(kinds) if k not in ('sale', 'hand', 'lost_sale')} }")
    print(
        f"placements: {let_go} let go into a lane, {placed} resting in it"
        f" ({placed / max(let_go, 1):.2%}), {len(failures)} not"
        f" ({dict(Counter(e.kind for e in failures))}); into a full lane: {len(full)}; arm collisions:"
        f" {kinds['arm_collision']}; solver blow-ups: {kinds['physics_unstable']}"
    )
    for e in full:  # what made the lane full since the arm's last look: a fault in it?
        before = [
            x for x in events if x.lane_id == e.lane_id and x.kind in ("tipped", "placed", "sale") and x.stamp < e.stamp
        ]
        told = ", ".join(f"{x.kind} {e.stamp - x.stamp:.1f} s before" for x in before[-3:])
        print(f"  INTO A FULL LANE {e.lane_id} at {e.stamp:.1f}: {e.kind}; {told}")
    lane_answers = [(h.stamp, h.lane_id or "") for h in handoffs if h.kind == "blocked_lane"]
    missed = match(failures, lane_answers, lambda e: e.lane_id)
    print(
        f"placements that did not rest, answered by a blocked_lane handoff for their lane: {len(failures) - len(missed)}"
    )
    for e in missed:
        print(f"  UNNOTICED {e.kind} {e.lane_id} {e.sku} at {e.stamp:.1f}: {e.detail}")
    grasp_losses = [e for e in events if e.kind == "grasp_slipped"]
    grasp_losses += [e for e in events if e.kind == "dropped" and "while carried" in e.detail]
    slip_answers = [(t, "slip") for t, what, _ in noticed if what in ("slipped", "missed")]
    missed_slips = match(sorted(grasp_losses, key=lambda e: e.stamp), slip_answers, lambda e: "slip")
    print(
        f"grasps slipped or containers lost while carried: {len(grasp_losses)}, noticed: {len(grasp_losses) - len(missed_slips)}"
    )
    for e in missed_slips:
        print(f"  UNNOTICED {e.kind} {e.sku} at {e.stamp:.1f}: {e.detail}")
    # A fault (a container tipped where it stood) also blocks its lane until a person clears it.
    tipped = [e for e in events if e.kind == "tipped" and e.detail.startswith("fault")]
    cleared = [e for e in events if e.kind == "operator_cleared" and e.lane_id]
    false = [h for h in handoffs if h.kind == "blocked_lane" and not explained(h, failures, tipped, cleared)]
    print(
        f"handoffs by kind: {dict(Counter(h.kind for h in handoffs))}; blocked_lane with no failure behind it: {len(false)}"
    )
    for h in false:
        print(f"  FALSE ALARM {h.lane_id} at {h.stamp:.1f}: {h.detail}")
    print(f"the executor's notices: {dict(Counter(what for _, what, _ in noticed))}")
    return 0 if not missed and not missed_slips else 1


if __name__ == "__main__":
    raise SystemExit(main())
