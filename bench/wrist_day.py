"""What the wrist camera did in a store day: mix-ups caught, wrong SKUs placed, containers pushed into full lanes.

Reads a finished ``restock sim`` run's recording (``<run>/<policy>/restock*.mcap``: the simulator's
ground truth, the handoffs, the task results, the cameras' observations) and prints:

- stock mix-ups the simulator made, wrong-item handoffs the arm raised, and containers of another
  SKU than the lane's that were placed (the issue's figure: 0);
- containers dropped because "the lane is full" (the issue's figure: 0);
- lanes counted from behind, and tasks ended early on a lane counted full.

Example (a 3-hour morning of the walk-in cooler, 4 mix-ups an hour)::

    restock sim --store config/stores/walk_in_cooler.yaml --days 0.125 --start 2026-07-06T07:00:00 \\
        --containers-per-day 1000 --initial-fill 0.5 --mixups-per-hour 4 --seed 7 --out var/runs/wrist-day1
    .venv/bin/python bench/wrist_day.py var/runs/wrist-day1
"""

from __future__ import annotations

import argparse
import bisect
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from restock import records, topics


def read(run: Path) -> dict[str, list]:
    """The run's records by topic, from every MCAP file under it, in file order."""
    wanted = {
        "/" + topics.SIM_GROUND_TRUTH: records.SimGroundTruth,
        "/" + topics.HANDOFF_REQUESTS: records.HandoffRequest,
        "/" + topics.TASK_RESULTS: records.TaskResult,
        "/" + topics.SHELF_OBSERVATIONS: records.ShelfObservation,
    }
    out: dict[str, list] = {t: [] for t in wanted}
    for path in sorted(run.rglob("restock*.mcap")):
        with path.open("rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for _schema, channel, _message, decoded in reader.iter_decoded_messages(topics=list(wanted)):
                out[channel.topic].append(records.decode(decoded.data, wanted[channel.topic]))
    return out


def count_check(truths: list, wrist: list) -> tuple[int, list[str]]:
    """Each wrist count beside the lane's true count at that moment: the ground truth before it
    (every few sim s) with the containers placed into and sold from the lane since."""
    stamps = [t.stamp for t in truths]
    events = [e for t in truths for e in t.events]
    exact, off = 0, []
    for obs in wrist:
        i = max(0, bisect.bisect_right(stamps, obs.stamp) - 1)
        for lane in obs.lanes:
            truth = truths[i].lanes[lane.lane_id]
            since = [e for e in events if e.lane_id == lane.lane_id and truths[i].stamp < e.stamp <= obs.stamp]
            now = truth.count + sum(e.kind == "placed" for e in since) - sum(e.kind == "sale" for e in since)
            counted = round((lane.fill or 0.0) * truth.capacity)
            if counted == now:
                exact += 1
            else:
                off.append(f"{lane.lane_id} at {obs.stamp:.0f}: counted {counted}, truth {now}")
    return exact, off


def open_run(description: str | None) -> tuple[Path, dict[str, list], list] | None:
    """The command line's run directory, its records by topic and its ground truth (None, said
    on stderr, when it recorded none). bench/physics_day.py reads its runs the same way."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the run directory of restock sim (--out)")
    run = ap.parse_args().run
    got = read(run)
    truths = got["/" + topics.SIM_GROUND_TRUTH]
    if not truths:
        print(f"no ground truth recorded under {run}", file=sys.stderr)
        return None
    return run, got, truths


def main() -> int:
    opened = open_run(__doc__)
    if opened is None:
        return 1
    run, got, truths = opened
    lane_sku = {lane_id: t.sku for lane_id, t in truths[-1].lanes.items()}
    events = [e for t in truths for e in t.events]
    kinds = Counter(e.kind for e in events)
    wrong = [e for e in events if e.kind == "placed" and e.lane_id and e.sku != lane_sku.get(e.lane_id)]
    full = [e for e in events if e.kind == "dropped" and "the lane is full" in e.detail]
    handoffs = Counter(r.kind for r in got["/" + topics.HANDOFF_REQUESTS])
    results = got["/" + topics.TASK_RESULTS]
    counted_full = [r for r in results if "counted full" in r.reason]
    wrist = [o for o in got["/" + topics.SHELF_OBSERVATIONS] if o.camera_id == "wrist"]
    hours = (truths[-1].stamp - truths[0].stamp) / 3600.0
    print(f"$ .venv/bin/python bench/wrist_day.py {run}")
    print(f"{hours:.2f} sim h recorded; sim events: {dict(sorted(kinds.items()))}")
    print(
        f"stock mix-ups made: {kinds.get('mixup', 0)}; wrong-item handoffs: {handoffs.get('wrong_item', 0)}; "
        f"wrong SKUs placed: {len(wrong)}"
    )
    print(
        f"containers dropped into a full lane ('the lane is full'): {len(full)}; all drops: {kinds.get('dropped', 0)}"
    )
    print(
        f"lanes counted from behind (published): {len(wrist)}; tasks ended on a lane counted full: "
        f"{len(counted_full)} of {len(results)} results; handoffs by kind: {dict(handoffs)}"
    )
    exact, off = count_check(truths, wrist)
    print(f"wrist counts against the true count at that moment: {exact} of {exact + len(off)} exact")
    for line in off[:5]:
        print(f"  {line}")
    for e in wrong[:5]:
        print(f"  placed wrong: {e}")
    for e in full[:5]:
        print(f"  dropped full: {e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
