"""The task executor: a pure state machine from restock tasks to motions, gripper commands and results.

The node calls :meth:`Executor.tick` at the control rate with the measured joints and gripper
opening; the executor answers with :class:`Command` objects (a checked trajectory, a hold, a
gripper opening, a record to publish). No rclpy, no clock of its own: time comes in with the
feedback, so tests drive it with a simulated arm.

For each container: move to the stock, approach, grasp, verify by the gripper opening
(:mod:`restock.motion.grip`), retreat, carry, approach the back of the lane, release, verify, retreat.
With a wrist camera the arm also looks (:mod:`restock.motion.wrist_look`): at the lane's back before
each container (a full lane gets none) and at the container in its fingers (a wrong SKU goes back and
becomes a ``wrong_item`` handoff). A grasp that keeps failing, a lane the arm cannot enter or an
unreachable target becomes a :class:`~restock.records.HandoffRequest`; the task is parked (persisted)
until an operator's resolution resumes or drops it. A held container is put back into the stock first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from restock import records
from restock.motion.commands import Command, Hold, PublishRecord, SendTrajectory, SetGripper
from restock.motion.envelope import Held
from restock.motion.executor_checks import ExecutorChecks
from restock.motion.executor_state import Active, ExecutorSettings, Motion, Phase
from restock.motion.grip import Grip
from restock.motion.kinematics import Pose
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.motion.trajectory import PlanError, Trajectory
from restock.motion.wrist_look import RequestLook, Seen

GRIPPER_PHASES = (Phase.GRASP, Phase.RELEASE, Phase.RETURN_RELEASE)


@dataclass
class Executor(ExecutorChecks):
    mover: Mover
    store: TaskStore
    settings: ExecutorSettings = field(default_factory=ExecutorSettings)
    queue: list[tuple[records.RestockTask, int]] = field(default_factory=list)
    parked: dict[str, tuple[records.RestockTask, int]] = field(default_factory=dict)
    resolved_at: dict[str, float] = field(default_factory=dict)  # task id -> when an operator resumed it
    active: Active | None = None
    phase: Phase = Phase.IDLE
    motion: Motion | None = None
    wait_until: float | None = None
    holding: bool = False
    paused: str | None = None  # why autonomy is suspended (e-stop, operator, watchdog), None: running
    fault: str | None = None
    handoffs: int = 0
    _resume_phase: Phase | None = None
    _pending: list[Command] = field(default_factory=list)
    _now: float = 0.0
    _measured_at: float = 0.0
    _wall: float | None = None
    _wait_wall: float | None = None  # wall time the gripper wait began
    _wait_sim: float = 0.0  # sim time the gripper command was sent
    noticed: list[tuple[float, str, str]] = field(default_factory=list)  # (sim time, what, detail): failures seen
    look: RequestLook | None = None  # a wrist frame asked for and not answered yet
    look_since: float = 0.0
    sold: list[tuple[float, str, str | None, int]] = field(default_factory=list)  # (stamp, sku, lane, n) heard
    # A gripper command a pause cut short: (its phase, when it is surely done). The fingers carry it
    # out all the same (a hold stops the joints, not the gripper), so it is judged on resume.
    cut_short: tuple[Phase, float] | None = None

    def __post_init__(self) -> None:
        for st in self.store.unfinished():
            if st.state == "parked" and st.handoff_id:
                self.parked[st.handoff_id] = (st.task, st.placed)
            else:
                self.queue.append((st.task, st.placed))
        self._sort()
        st = self.settings
        self.grip = Grip(
            self.mover.store, self.mover.model.max_opening, st.min_hold_fraction, st.grasp_margin, st.release_margin
        )

    # --- inputs -------------------------------------------------------------------------

    def submit(self, task: records.RestockTask, now: float) -> list[Command]:
        """A new task: validated, queued and persisted, or rejected with the reason."""
        known = self.store.get(task.task_id)
        # The same task sent again is answered, not repeated; an id reused for another task
        # (a different creation time, lane or quantity) is a new task.
        if known is not None and known.task == task:
            if known.result is not None:
                return [PublishRecord(known.result)]  # sent again: answer, do not repeat
            return []
        reason = self.validate(task)
        if reason:
            return [PublishRecord(self._result(task, "rejected", 0, reason, now, now))]
        self.queue.append((task, 0))
        self._sort()
        self.store.save(task, "queued", 0, now)
        return []

    def validate(self, task: records.RestockTask) -> str:
        store = self.mover.store
        lane = store.lane_by_id.get(task.lane_id)
        if lane is None:
            return f"unknown lane {task.lane_id!r}"
        if task.sku not in store.skus:
            return f"unknown SKU {task.sku!r}"
        if lane.lane.sku != task.sku:
            return f"lane {task.lane_id} holds {lane.lane.sku}, not {task.sku}"
        loc = store.stock_by_id.get(task.stock_location)
        if loc is None:
            return f"unknown stock location {task.stock_location!r}"
        if loc.sku != task.sku:
            return f"stock location {loc.id} holds {loc.sku}, not {task.sku}"
        return ""

    def resolve(self, resolution: records.HandoffResolution, now: float) -> list[Command]:
        """An operator's answer to one of our handoffs: resume the parked task or drop it."""
        out: list[Command] = []
        if self.phase is Phase.FAULT and resolution.action != "abandoned":
            # The operator has seen to it: back out to the corridor, then carry on.
            self.fault = None
            self.phase = Phase.RECOVER
        if resolution.request_id in self.parked:
            task, placed = self.parked.pop(resolution.request_id)
            if resolution.action == "abandoned":
                result = self._result(task, "failed", placed, f"abandoned by {resolution.operator}", now, now)
                self.store.save(task, "finished", placed, now, resolution.request_id, result)
                out.append(PublishRecord(result))
            else:
                self.queue.append((task, placed))
                self.resolved_at[task.task_id] = now
                self._sort()
                self.store.save(task, "queued", placed, now)
        return out

    def pause(self, why: str) -> list[Command]:
        """E-stop, operator control or lost feedback: hold now; the step is re-planned on resume."""
        first = self.paused is None
        self.paused = why
        if first and self.phase not in (Phase.IDLE, Phase.FAULT):
            self._resume_phase = self.phase
        if first and self.wait_until is not None and self.phase in GRIPPER_PHASES:
            self.cut_short = (self.phase, self.wait_until)
        self.motion = None
        self.wait_until = None
        self.look = None
        return [Hold(why)]

    def resume(self) -> None:
        if self.paused is None:
            return
        self.paused = None
        if self._resume_phase is not None or self.active is not None:
            # The arm may be anywhere (an operator moved it): back to the corridor first.
            self.phase = Phase.RECOVER
            self.motion = None
        self._resume_phase = None

    # --- the loop -----------------------------------------------------------------------

    def tick(
        self,
        now: float,
        q: np.ndarray | None,
        gripper: float | None,
        measured_at: float | None = None,
        wall: float | None = None,
    ) -> list[Command]:
        """One control period: the commands to carry out now (often none).

        ``measured_at``: when q was measured (the joint_states stamp), so tracking compares like
        with like; defaults to ``now``. ``wall``: a monotonic wall clock, for the wall-time start
        allowance when ``now`` is sim time.
        """
        self._now = now
        self._wall = wall
        self._measured_at = now if measured_at is None else min(measured_at, now)
        out = self._step(now, q, gripper)
        out.extend(self._pending)
        self._pending = []
        return out

    def _step(self, now: float, q: np.ndarray | None, gripper: float | None) -> list[Command]:
        if self.paused is not None or self.phase is Phase.FAULT or q is None:
            return []
        q = np.asarray(q, dtype=float)
        if self.motion is not None:
            return self._follow(now, q)
        if self.cut_short is not None:
            phase, due = self.cut_short
            if now < due or self._measured_at < due:
                return []
            self.cut_short = None
            self._judge_cut_short(phase, now, gripper)
        if self.look is not None:
            if now - self.look_since < self.settings.look_timeout_s:
                return []
            return self.seen(Seen(self.look), now)  # no frame came: on as without a camera
        if self.wait_until is not None:
            if now < self.wait_until or self._measured_at < self.wait_until:
                return []  # judge the fingers by a measurement taken after they had time to move
            st = self.settings
            late_allowed = self._measured_at - self._wait_sim <= st.start_allowance_s + st.lag_allowance_s
            if self._gripper_unmoved(gripper) and (self._young(self._wait_wall) or late_allowed):
                return []  # the command may not have been read yet (a late message, sim time ran ahead)
            self.wait_until = None
            return self._after_gripper(now, gripper)
        lost = self._grip_lost(now, q, gripper)
        if lost is not None:
            return lost
        return self._enter(now, q)

    # --- phases -------------------------------------------------------------------------

    def _enter(self, now: float, q: np.ndarray) -> list[Command]:
        """Start the current phase's action (a motion or a gripper move)."""
        if self.phase is Phase.IDLE:
            if not self.queue:
                return []
            task, placed = self.queue.pop(0)
            self.active = Active(task, placed, now, resolved_at=self.resolved_at.pop(task.task_id, None))
            self.store.save(task, "active", placed, now)
            self.phase = Phase.RECOVER  # from wherever the arm is (after a restart: maybe in a lane)
        a = self.active
        if a is None:
            # No task (it was parked, or an operator resolved a fault): only backing out into the
            # corridor makes sense, and then idle.
            if self.phase is Phase.RECOVER:
                return self._recover(now, q, None)
            self.phase = Phase.IDLE
            return []
        m = self.mover
        lane, loc = a.task.lane_id, a.task.stock_location
        held = m.held_for(a.task.sku) if self.holding else None
        # The fingers' gap while the hand is empty: open for the pick, or as wide as the release left them.
        pick_gap, release_gap = self.grip.pick_opening(a.task.sku), self.grip.release_opening(lane)
        try:
            if self.phase is Phase.TO_STOCK:
                traj = m.joint_move(q, m.pre_pick(loc), None, m.stock_openings(loc), max(pick_gap, release_gap))
                return [SetGripper(pick_gap), *self._go(traj, now)]
            if self.phase is Phase.APPROACH_PICK:
                return self._go(m.line(q, m.pick(loc), None, m.stock_openings(loc), pick_gap), now)
            if self.phase is Phase.GRASP:
                self.wait_until = self._gripper_done_at(now)
                return [SetGripper(0.0)]
            if self.phase is Phase.RETREAT_EMPTY:
                return self._go(m.line(q, m.pre_pick(loc), None, m.stock_openings(loc), pick_gap), now)
            if self.phase is Phase.RETREAT_PICK:
                return self._go(m.line(q, m.pre_pick(loc, lifted=True), held, m.stock_openings(loc)), now)
            if self.phase in (Phase.LOOK_HELD, Phase.LOOK_LANE):
                return self._ask_look(now)
            if self.phase is Phase.TO_LOOK:
                gap = max(pick_gap, release_gap)  # as TO_STOCK: the hand is empty, open as the last step left it
                return self._go(m.joint_move(q, m.pre_place(lane), None, m.lane_openings(lane), gap), now)
            if self.phase is Phase.CARRY:
                return self._go(m.joint_move(q, m.pre_place(lane), held, m.lane_openings(lane)), now)
            if self.phase is Phase.APPROACH_PLACE:
                return self._go(m.line(q, m.place(lane), held, m.lane_openings(lane)), now)
            if self.phase is Phase.RELEASE:
                self.wait_until = self._gripper_done_at(now)
                return [SetGripper(release_gap)]
            if self.phase is Phase.RETREAT_PLACE:
                return self._go(m.line(q, m.pre_place(lane), None, m.lane_openings(lane), release_gap), now)
            if self.phase is Phase.RECOVER:
                return self._recover(now, q, held)
            if self.phase is Phase.RETURN_CARRY:
                return self._go(m.joint_move(q, m.pre_pick(loc, lifted=True), held, m.stock_openings(loc)), now)
            if self.phase is Phase.RETURN_APPROACH:
                pick = m.pick(loc)
                lifted = Pose(pick.x, pick.y, pick.z + m.settings.lift_off, pick.yaw)
                return self._go(m.line(q, lifted, held, m.stock_openings(loc)), now)
            if self.phase is Phase.RETURN_RELEASE:
                self.wait_until = self._gripper_done_at(now)
                return [SetGripper(pick_gap)]
            if self.phase is Phase.RETURN_RETREAT:
                return self._go(m.line(q, m.pre_pick(loc), None, m.stock_openings(loc), pick_gap), now)
        except PlanError as err:
            return self._failed(now, "unreachable", f"{self.phase.value}: {err}")
        return []

    def _go(self, traj: Trajectory, now: float) -> list[Command]:
        start = now + self.settings.start_delay_s
        self.motion = Motion(traj, start, sent_wall=self._wall)
        return [SendTrajectory(traj, start)]

    def _follow(self, now: float, q: np.ndarray) -> list[Command]:
        """Watch the running motion: done when the arm is at its end, blocked when it falls behind.

        Times are the trajectory's own (from its stamped start) at the instant q was measured, so
        a slow clock, a stamp in the future or feedback latency do not read as tracking error.
        """
        mo = self.motion
        assert mo is not None
        st = self.settings
        tm = self._measured_at - mo.started  # trajectory time when q was measured
        error = mo.trajectory.distance_within(q, tm - st.lag_allowance_s, tm)
        young = self._young(mo.sent_wall)
        if tm <= st.start_allowance_s or young:
            # Not picked up yet (a late message): the arm still at the start is on track.
            error = min(error, float(np.max(np.abs(q - mo.trajectory.positions[0]))))
        # Judged by when q was measured, not by the clock: late feedback is not a blocked arm (a
        # watchdog on the feedback itself holds the arm when it stops).
        if error > st.tracking_tolerance:
            if mo.off_track_since is None:
                mo.off_track_since = self._measured_at
            if self._measured_at - mo.off_track_since > st.tracking_grace_s:
                # Stalled: held back by something, or asked for more than its drives give.
                self.motion = None
                kind: records.HandoffKind = "blocked_lane" if self.phase is Phase.APPROACH_PLACE else "obstruction"
                detail = f"{self.phase.value}: arm {error:.3f} off its trajectory at {tm:.2f} s (stalled)"
                self.noticed.append((now, "stalled", detail))
                return [Hold("tracking error"), *self._failed(now, kind, detail)]
        else:
            mo.off_track_since = None
        final_error = float(np.max(np.abs(q - mo.trajectory.final)))
        if tm >= mo.trajectory.duration + st.settle_s and final_error <= st.position_tolerance:
            self.motion = None
            self._next_after_motion()
            return []
        if not young and tm > mo.trajectory.duration + max(
            st.motion_timeout_s, st.start_allowance_s + st.lag_allowance_s
        ):
            self.motion = None
            return [
                Hold("motion timeout"),
                *self._failed(now, "obstruction", f"{self.phase.value}: did not arrive ({final_error:.3f} away)"),
            ]
        return []

    def _next_after_motion(self) -> None:
        nxt = {
            Phase.TO_STOCK: Phase.APPROACH_PICK,
            Phase.APPROACH_PICK: Phase.GRASP,
            Phase.RETREAT_EMPTY: Phase.APPROACH_PICK,
            Phase.RETREAT_PICK: Phase.LOOK_HELD if self.settings.wrist_camera else Phase.CARRY,
            Phase.TO_LOOK: Phase.LOOK_LANE,
            Phase.CARRY: Phase.APPROACH_PLACE,
            Phase.APPROACH_PLACE: Phase.RELEASE,
            Phase.RETURN_CARRY: Phase.RETURN_APPROACH,
            Phase.RETURN_APPROACH: Phase.RETURN_RELEASE,
        }
        if self.phase is Phase.RETREAT_PICK:
            # Lifted: a container that did not come along leaves the fingers closing on; wait for them
            # to settle before the grip is judged (restock.motion.executor_checks).
            self.wait_until = self._now + self.mover.store.robot.gripper.close_time_s + 0.1
        if self.phase in nxt:
            self.phase = nxt[self.phase]
        elif self.phase is Phase.RETREAT_PLACE:
            self._next_container(at_lane=True)
        elif self.phase is Phase.RECOVER:
            if self.active is None:
                self.phase = Phase.IDLE
            elif self.active.failure is not None:
                if self.holding:
                    self.phase = Phase.RETURN_CARRY  # put the item back before parking the task
                else:
                    self._park(self._now)
            elif self.holding:
                checked = self.active.held_checked or not self.settings.wrist_camera
                self.phase = Phase.CARRY if checked else Phase.LOOK_HELD
            else:
                # Also after a pause while backing out of the lane from the last release: the
                # task is done then, and going to the stock again would place one too many.
                self._next_container()
        elif self.phase is Phase.RETURN_RETREAT:
            self._park(self._now)

    def _after_gripper(self, now: float, gripper: float | None) -> list[Command]:
        a = self.active
        assert a is not None
        if self.phase is Phase.GRASP:
            if self.grip.holds(a.task.sku, gripper):
                a.grip_at_grasp = gripper
                self.holding = True
                a.held_checked = False
                self.phase = Phase.RETREAT_PICK
                return []
            a.grasp_failures += 1
            self.noticed.append((now, "missed", f"no grip on {a.task.sku} (opening {(gripper or 0.0) * 1000:.0f} mm)"))
            open_cmd = SetGripper(self.grip.pick_opening(a.task.sku))
            self.phase = Phase.RETREAT_EMPTY
            if a.grasp_failures > self.settings.max_grasp_retries:
                a.failure = (
                    "failed_grasp",
                    f"no grip on {a.task.sku} at {a.task.stock_location} after {a.grasp_failures} tries",
                )
                self.phase = Phase.RETURN_RETREAT  # back out empty, then park
            return [open_cmd]
        if self.phase is Phase.RELEASE:
            released = self.grip.released(a.task.lane_id, gripper)
            self.holding = not released
            if not released:
                return self._failed(now, "other", f"the gripper did not open in lane {a.task.lane_id}")
            a.placed += 1
            self.store.save(a.task, "active", a.placed, now)
            self.phase = Phase.RETREAT_PLACE
            return []
        if self.phase is Phase.RETURN_RELEASE:
            self.holding = False
            self.phase = Phase.RETURN_RETREAT
            return []
        return []

    def _judge_cut_short(self, phase: Phase, now: float, gripper: float | None) -> None:
        """What a gripper command cut short by a pause did (the fingers carried it out meanwhile):
        read as its own wait would have read it, before the arm backs out. Else a container let go
        during the pause reads as held, and the opening left by the release as a slip (a cooler day's
        two false "slips on the lift", each placed container counted one short)."""
        a = self.active
        if a is None or gripper is None:
            return
        if phase is Phase.GRASP:
            self.holding = self.grip.holds(a.task.sku, gripper)
            a.grip_at_grasp = gripper if self.holding else None
            a.held_checked = False
        elif phase is Phase.RELEASE and self.holding and self.grip.released(a.task.lane_id, gripper):
            self.holding = False
            a.placed += 1
            self.store.save(a.task, "active", a.placed, now)
        elif phase is Phase.RETURN_RELEASE:
            self.holding = not self.grip.let_go(a.task.sku, gripper)

    def _recover(self, now: float, q: np.ndarray, held: Held | None) -> list[Command]:
        """From wherever the arm is: straight back out of the case or rack into the corridor."""
        m = self.mover
        target, openings = m.back_out(m.model.forward(q), self.active.task.sku if self.active else None)
        if target is None:  # already in the corridor: go straight on with the next step
            self._next_after_motion()
            if self.phase in (Phase.IDLE, Phase.FAULT, Phase.RECOVER) or self.active is None:
                return []
            return self._enter(now, q)
        return self._go(m.line(q, target, held, openings), now)

    # --- failure and results --------------------------------------------------------------

    def _failed(self, now: float, kind: records.HandoffKind, detail: str) -> list[Command]:
        a = self.active
        if a is None:
            # No task to park (backing out after a restart or an operator's release): stop and
            # ask an operator all the same, or nothing would ever clear the fault.
            self.phase, self.fault = Phase.FAULT, detail
            self.motion = None
            self.wait_until = None
            self.handoffs += 1
            request = records.HandoffRequest(
                request_id=f"arm-fault-{self.handoffs}",
                source=self.settings.source,
                kind=kind,
                stamp=now,
                detail=detail[:2000],
            )
            self._pending.append(PublishRecord(request))
            return []
        if a.failure is not None or self.phase in (
            Phase.RECOVER,
            Phase.RETURN_CARRY,
            Phase.RETURN_APPROACH,
            Phase.RETURN_RETREAT,
        ):
            # Failing while already recovering: stop here for an operator.
            a.failure = a.failure or (kind, detail)
            self.phase, self.fault = Phase.FAULT, detail
            return self._park(now)
        a.failure = (kind, detail)
        self.motion = None
        self.wait_until = None
        # Out of the lane or rack first; a held item then goes back to the stock; then park.
        self.phase = Phase.RECOVER
        return []

    def _park(self, now: float) -> list[Command]:
        a = self.active
        assert a is not None and a.failure is not None
        kind, detail = a.failure
        self.handoffs += 1
        request_id = f"arm-{a.task.task_id}-{self.handoffs}"[:128]
        request = records.HandoffRequest(
            request_id=request_id,
            source=self.settings.source,
            kind=kind,
            stamp=now,
            lane_id=a.task.lane_id,
            task_id=a.task.task_id,
            detail=detail[:2000],
            stock_location=a.task.stock_location if kind == "wrong_item" else None,
        )
        result = self._result(a.task, "parked", a.placed, detail, a.started, now, handoff_id=request_id)
        self.parked[request_id] = (a.task, a.placed)
        self.store.save(a.task, "parked", a.placed, now, request_id)
        self.active = None
        if self.phase is not Phase.FAULT:
            self.phase = Phase.IDLE
        self._pending.extend([PublishRecord(request), PublishRecord(result)])
        return []

    def _next_container(self, at_lane: bool = False) -> None:
        """The arm is free and empty in the corridor (``at_lane``: at the lane's approach point):
        fetch the task's next container, after a look at the lane with a wrist camera, or finish."""
        a = self.active
        assert a is not None
        if a.placed >= a.task.quantity and not (self.settings.wrist_camera and at_lane):
            self.phase = Phase.IDLE
            self._finish("done", "")
        elif self.settings.wrist_camera:  # after the last placement too: did it slide home?
            self.phase = Phase.LOOK_LANE if at_lane else Phase.TO_LOOK
        else:
            self.phase = Phase.TO_STOCK

    def _finish(self, outcome: records.TaskOutcome, reason: str) -> None:
        a = self.active
        assert a is not None
        now = self._now
        result = self._result(a.task, outcome, a.placed, reason, a.started, now)
        self.store.save(a.task, "finished", a.placed, now, None, result)
        self._pending.append(PublishRecord(result))
        self.active = None

    def _result(
        self,
        task: records.RestockTask,
        outcome: records.TaskOutcome,
        placed: int,
        reason: str,
        started: float,
        finished: float,
        handoff_id: str | None = None,
    ) -> records.TaskResult:
        return records.TaskResult(
            task_id=task.task_id,
            lane_id=task.lane_id,
            outcome=outcome,
            placed=min(placed, 64),
            reason=reason[:500],
            started=max(started, 0.0),
            finished=max(finished, started, 0.0),
            handoff_id=handoff_id,
        )

    def _gripper_done_at(self, now: float) -> float:
        """When a gripper command sent now has surely been carried out (its delivery allowed for)."""
        self._wait_wall = self._wall
        self._wait_sim = now
        return now + self.mover.store.robot.gripper.close_time_s + 0.1 + self.settings.start_delay_s

    def _young(self, since: float | None) -> bool:
        """Sent less than start_allowance_wall_s ago in wall time (when the caller gives wall time)."""
        return (
            self._wall is not None and since is not None and self._wall - since <= self.settings.start_allowance_wall_s
        )

    def _gripper_unmoved(self, gripper: float | None) -> bool:
        """The fingers are where they were before the grasp or release command: not carried out yet?"""
        a = self.active
        if gripper is None or a is None:
            return False
        if self.phase is Phase.GRASP:
            return self.grip.grasp_unmoved(a.task.sku, gripper)
        if self.phase is Phase.RELEASE:
            return not self.grip.released(a.task.lane_id, gripper)
        return False

    def _sort(self) -> None:
        self.queue.sort(key=lambda item: (-item[0].priority, item[0].created))

    def wake_at(self, next_tick: float, check_every_s: float = 1.0) -> float | None:
        """Under lockstep: the earliest control period that can change anything (None: idle until
        a message comes). A motion is looked at when it should be done, and at least every
        ``check_every_s`` on the way (tracking); a gripper wait when it is over."""
        if self.paused is not None or self.phase is Phase.FAULT:
            return None
        if self.motion is not None:
            # A hair past the end, so the arrival check (trajectory time >= duration + settle) holds.
            done = self.motion.started + self.motion.trajectory.duration + self.settings.settle_s + 1e-6
            return max(next_tick, min(done, next_tick + check_every_s))
        if self.wait_until is not None:
            return max(next_tick, self.wait_until)
        if self.cut_short is not None:
            return max(next_tick, self.cut_short[1])
        if self.look is not None:  # the frame comes as a message; without one, on at the timeout
            return max(next_tick, self.look_since + self.settings.look_timeout_s)
        if self.active is not None or self.queue or self.phase is not Phase.IDLE:
            return next_tick
        return None

    @property
    def step_due(self) -> bool:
        """It has work and is between steps (running, no motion or gripper wait under way)."""
        between = self.motion is None and self.wait_until is None and self.look is None
        between = between and self.paused is None and self.fault is None
        return between and (self.active is not None or bool(self.queue))

    @property
    def status(self) -> str:
        if self.paused:
            return f"paused: {self.paused}"
        if self.phase is Phase.FAULT:
            return f"fault: {self.fault}"
        if self.active is None:
            return f"idle, {len(self.queue)} queued, {len(self.parked)} parked"
        return f"task {self.active.task.task_id} ({self.active.placed}/{self.active.task.quantity}) {self.phase.value}"
