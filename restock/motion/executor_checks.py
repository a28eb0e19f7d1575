"""What the executor measures about the physics it works in: the grip after a lift or a carry, and
the lane seen from behind after a placement (the wrist camera). Pure; a mixin of
:class:`restock.motion.executor.Executor`, kept apart so each file stays small.

- A grasp that held on the board can slip when the arm lifts, and a held container can slide
  out while carried: before each step that needs the container in hand (looking at it,
  carrying it, entering the lane, releasing it) the measured opening must still say "holding"
  (:meth:`Grip.holds`) and stand where the fingers stopped on it (a container sliding out lets
  them close on, slowly under a weak grip); after the lift the fingers get a moment to settle. If not, the loss counts as a failed grasp and is retried within
  ``max_grasp_retries`` (from the stock, or backing out of the lane first); beyond it, a
  ``failed_grasp`` handoff.
- A released container must slide home: against the one in front, so the column's back face
  stands a whole number of pitches from the lane's front, and the count does not jump by more
  than was placed. A wrist look at the lane after every placement (and before the first)
  checks both, and once more ``slide_s`` later when it doubts (a container still sliding); a lane whose back is not home is jammed (a container stuck or lying in it) and
  becomes a ``blocked_lane`` handoff naming what was seen. So does a lane the camera cannot count
  at all (something lying before its back): the arm never places blind into it.

Everything noticed goes into ``noticed`` (sim time, what, detail), so a test can set it beside the
simulator's ground truth event by event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from restock import records
from restock.motion.commands import Command, PublishRecord, SetGripper
from restock.motion.executor_state import Phase
from restock.motion.wrist_look import RequestLook, Seen, count_observation
from restock.vision.wrist import LaneCount

if TYPE_CHECKING:
    from restock.motion.executor import Executor

# The column's back face this far off a whole number of pitches from the front: not home (m).
HOME_TOLERANCE = 0.012
# Fingers that moved this much since they stopped on the container are closing on nothing firm (m).
GRIP_DRIFT = 0.003
# The arm within this of where the lift leaves it is at the stock (m).
AT_PICK = 0.03
SALES_KEPT = 500  # the latest sales heard: far more than happen during one task
HOLD_PHASES = (Phase.LOOK_HELD, Phase.CARRY, Phase.APPROACH_PLACE, Phase.RELEASE)


def not_home(lane_front_y: float, pitch: float, count: LaneCount, expected_most: int | None) -> str | None:
    """Why a lane counted from behind has a container that did not slide home, or None."""
    if count.back_y is None:
        return None
    pitches = (lane_front_y - count.back_y) / pitch
    off = abs(pitches - round(pitches)) * pitch
    if off > HOME_TOLERANCE:
        return f"its back face stands {off * 1000:.0f} mm off the column (a container stuck or lying in the lane)"
    if expected_most is not None and count.count > expected_most:
        return f"counted {count.count} from behind where at most {expected_most} can be (a container stuck behind the column)"
    return None


class ExecutorChecks:
    """The grip and lane checks; mixed into the executor (its attributes are used as they are)."""

    def _grip_lost(self: Executor, now: float, q: np.ndarray, gripper: float | None) -> list[Command] | None:
        """Entering a step that needs the container in hand: None if it is (or cannot be told), else
        the commands of the retry or the handoff."""
        a = self.active
        if a is None or not self.holding or self.phase not in HOLD_PHASES or gripper is None:
            return None
        still = a.grip_at_grasp is None or abs(gripper - a.grip_at_grasp) <= GRIP_DRIFT
        if self.grip.holds(a.task.sku, gripper) and still:
            return None
        at_lane = self.phase in (Phase.APPROACH_PLACE, Phase.RELEASE)
        lifted = self.mover.pre_pick(a.task.stock_location, lifted=True)
        at_pick = np.linalg.norm(self.mover.model.forward(q).as_array()[:3] - lifted.as_array()[:3]) <= AT_PICK
        what = "slipped out of the fingers on the lift" if at_pick else "slipped out of the fingers while carried"
        self.noticed.append((now, "slipped", f"{a.task.sku} {what} (opening {gripper * 1000:.0f} mm)"))
        self.holding = False
        a.grasp_failures += 1
        open_cmd = SetGripper(self.grip.pick_opening(a.task.sku))
        if a.grasp_failures > self.settings.max_grasp_retries:
            a.failure = (
                "failed_grasp",
                f"{a.task.sku} {what}; no lasting grip at {a.task.stock_location} after {a.grasp_failures} tries",
            )
            self.phase = Phase.RECOVER  # out of the lane or rack, then park (the hand is empty)
        elif at_lane:
            self.phase = Phase.RECOVER
        else:
            # Down to the pick from where the lift left the arm; from anywhere else in the corridor (a
            # pause brought it back from the lane holding the container) a straight line to the stock
            # turns the tool about and cannot be planned: a joint move there instead.
            self.phase = Phase.RETREAT_EMPTY if at_pick else Phase.TO_STOCK
        return [open_cmd]

    def on_sale(self: Executor, sale: records.SaleEvent) -> None:
        """A sale from the till (pos/sales): a lane counted lower after it may have sold one."""
        self.sold.append((sale.stamp, sale.sku, sale.lane_id, sale.quantity))
        del self.sold[:-SALES_KEPT]

    def _short(self: Executor, count: LaneCount, expected: int, since: float, now: float) -> str | None:
        """Why a lane counted after a placement holds fewer than it should (a container that did not
        arrive: fell out, or lost on the way in), or None. Sales of its SKU since the last count
        may have taken some (of this lane, when the till names lanes)."""
        a = self.active
        assert a is not None
        sold = sum(
            n
            for t, sku, lane_id, n in self.sold
            if since < t <= now and sku == a.task.sku and lane_id in (None, a.task.lane_id)
        )
        if count.count >= expected - sold:
            return None
        missing = expected - sold - count.count
        return (
            f"placement failed: lane {a.task.lane_id} counted {count.count} from behind where {expected - sold}"
            f" should be ({expected} after the placements, {sold} sold since): {missing} container(s) did not arrive"
        )

    def _uncounted(self: Executor, now: float) -> list[Command]:
        """The lane's frame shows something before its back that is no upright container (one lying
        in it, a jam): placing blind would push containers into a lane that may be full. Look once
        more when it has had time to settle, then ask a person."""
        a = self.active
        assert a is not None
        if not a.relooked:
            a.relooked = True
            self.wait_until = now + self.settings.slide_s
            return []
        a.relooked = False
        detail = f"lane {a.task.lane_id} cannot be counted from behind: something in it is no upright container"
        self.noticed.append((now, "uncounted", detail))
        a.failure = ("blocked_lane", detail)
        self.phase = Phase.RECOVER  # out of the lane's approach, then park (the hand is empty)
        return []

    def _ask_look(self: Executor, now: float) -> list[Command]:
        a = self.active
        assert a is not None
        held = self.phase is Phase.LOOK_HELD
        settled = None if a.resolved_at is None else a.resolved_at + self.settings.slide_s
        if not held and settled is not None:
            # The person's clearing may not have reached the world (a simulator hears the answer
            # beside the arm) and what was set straight slides home: a count before is not the lane's.
            a.resolved_at = None
            if now < settled:
                self.wait_until = settled
                return []
        below = 0.0
        if held:  # the arm grips above the container's centre: where the camera finds its colours
            loc = self.mover.store.stock_by_id[a.task.stock_location]
            below = self.mover.pick(loc.id).z - self.mover.store.stock_pick_point(loc)[2]
        self.look = RequestLook("held" if held else "lane", a.task.lane_id, a.task.sku, below)
        self.look_since = now
        return [self.look]

    def seen(self: Executor, seen: Seen, now: float) -> list[Command]:
        """The answer to the look asked for (a frame judged, or none within look_timeout_s)."""
        a = self.active
        if self.look is None or seen.request != self.look or a is None:
            return []  # an answer to an older look (the arm was paused meanwhile)
        self.look = None
        if seen.request.purpose == "held":
            if seen.held is not None and not seen.held.ok:
                a.failure = ("wrong_item", seen.held.detail)
                self.phase = Phase.RETURN_APPROACH  # back where it came from (the arm is there), then park
            else:
                a.held_checked = True
                self.phase = Phase.CARRY
            return []
        out: list[Command] = []
        if seen.uncounted:
            return self._uncounted(now)
        count = seen.count
        taken = now if seen.stamp is None else min(seen.stamp, now)  # the count is the lane as of then
        if count is not None and a.placed == 0:
            # The lane before this task's first container: the planner adds what the task places.
            out.append(PublishRecord(count_observation(self.mover.store, count, taken)))
        if count is not None:
            lane = self.mover.store.lane_by_id[a.task.lane_id]
            expected = None if a.counted is None else a.counted + a.placed - a.counted_placed
            why = not_home(lane.front_y, lane.sku.along, count, expected)
            short = None if expected is None else self._short(count, expected, a.counted_at, now)
            if (why is not None or short is not None) and not a.relooked:
                # It may still be sliding down the board (or a sale not heard of yet took one):
                # look again once it has had time to rest (and the till to tell).
                a.relooked = True
                wait = self.settings.slide_s if why is not None else self.settings.sale_latency_s
                self.wait_until = now + wait
                return out
            a.counted, a.counted_placed, a.counted_at, a.relooked = count.count, a.placed, taken, False
            if why is not None or short is not None:
                what = "jammed" if why is not None else "not_placed"
                detail = f"lane {a.task.lane_id} is jammed: {why}" if why is not None else short
                self.noticed.append((now, what, detail or ""))
                a.failure = ("blocked_lane", detail or "")  # a person looks at the lane either way
                self.phase = Phase.RECOVER  # out of the lane's approach, then park (the hand is empty)
                return out
        if a.placed >= a.task.quantity:
            self.phase = Phase.IDLE
            self._finish("done", "")
        elif count is not None and count.free == 0:
            self.phase = Phase.IDLE
            outcome: records.TaskOutcome = "partial" if a.placed < a.task.quantity else "done"
            self._finish(outcome, f"lane {a.task.lane_id} counted full from behind ({count.count} containers)")
        else:
            self.phase = Phase.TO_STOCK
        return out
