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

Example (3 hours of the walk-in cooler at 1,000 containers a day)::

    restock sim --store config/stores/walk_in_cooler.yaml --days 0.125 --start 2026-07-06T07:00:00 \\
        --containers-per-day 1000 --initial-fill 0.25 --camera-period 60 --seed 7 --out var/runs/physics-cooler
    .venv/bin/python bench/physics_day.py var/runs/physics-cooler
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrist_day import open_run  # the run's records by topic

from restock import records, topics

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


def main() -> int:
    opened = open_run(__doc__)
    if opened is None:
        return 1
    run, got, truths = opened
    events = [e for t in truths for e in t.events]
    kinds = Counter(e.kind for e in events)
    handoffs = got["/" + topics.HANDOFF_REQUESTS]
    noticed = notices(run)
    failures = placement_failures(events)
    placed = kinds["placed"]
    let_go = placed + len(failures)
    full = [e for e in events if e.kind in ("placed", "jammed", "dropped") and "lane was full" in e.detail]
    hours = (truths[-1].stamp - truths[0].stamp) / 3600
    print(f"$ {' '.join([sys.executable, *sys.argv])}")
    print(f"{hours:.2f} sim hours; sales {sum(truths[-1].sales.values())}, lost {sum(truths[-1].lost_sales.values())}")
    print(f"world events: { {k: kinds[k] for k in sorted(kinds) if k not in ('sale', 'hand', 'lost_sale')} }")
    print(
        f"placements: {let_go} let go into a lane, {placed} resting in it"
        f" ({placed / max(let_go, 1):.2%}), {len(failures)} not"
        f" ({dict(Counter(e.kind for e in failures))}); into a full lane: {len(full)}; arm collisions:"
        f" {kinds['arm_collision']}; solver blow-ups: {kinds['physics_unstable']}"
    )
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
    explained = {(round(e.stamp), e.lane_id) for e in failures}
    false = [
        h
        for h in handoffs
        if h.kind == "blocked_lane"
        and not any(lane == h.lane_id and t - 1 <= h.stamp <= t + MATCH_S for t, lane in explained)
    ]
    print(
        f"handoffs by kind: {dict(Counter(h.kind for h in handoffs))}; blocked_lane with no failure behind it: {len(false)}"
    )
    for h in false:
        print(f"  FALSE ALARM {h.lane_id} at {h.stamp:.1f}: {h.detail}")
    print(f"the executor's notices: {dict(Counter(what for _, what, _ in noticed))}")
    return 0 if not missed and not missed_slips else 1


if __name__ == "__main__":
    raise SystemExit(main())
