"""The teleop rules as a synchronous core: claim, release, lease, resolve, e-stop, pose, heartbeat.

No sockets, no asyncio, no clock of its own: the server hands in what a logged-in connection sent
(an already validated protocol message) with the time, and carries out the returned
:class:`Effects`: replies to that connection, refusals, a state broadcast. Every refusal comes back
as a :class:`Refusal`, which the server's one refusal path counts, logs, audits and answers.
What reaches the robot goes through the :class:`RobotPort` (the bridge node's publishers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from restock import records
from restock.store.description import Store
from restock.teleop import protocol as P
from restock.teleop.control import EeTarget, TeleopControl, Workspace
from restock.teleop.records_out import AuditLog
from restock.teleop.session import HandoffQueue, LeaseBook, LeaseError, QueuedHandoff
from restock.vision.classes import FOREIGN_ITEM_LABEL

log = logging.getLogger("restock.teleop")


class RobotPort(Protocol):
    """Where the operator's commands go (the bridge node's publishers)."""

    def publish_target(self, target: EeTarget) -> None: ...
    def publish_status(self, status: records.TeleopStatus) -> None: ...
    def publish_resolution(self, resolution: records.HandoffResolution) -> None: ...
    def publish_estop(self, engaged: bool) -> None: ...
    def ros_now(self) -> float: ...


@dataclass(frozen=True)
class Conn:
    """A logged-in operator's connection, as the rules see it."""

    id: str
    operator: str
    peer: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Something refused: ``reason`` is logged and audited, ``public`` is what the client is told
    (None: nothing, e.g. a refused pose in a stream of them), ``status`` where it answers an HTTP request."""

    kind: str
    reason: str
    public: str | None
    operator: str | None = None
    peer: str | None = None
    status: int = 400


@dataclass
class Effects:
    replies: list[dict] = field(default_factory=list)  # to the connection that asked
    refusals: list[Refusal] = field(default_factory=list)
    broadcast: bool = False  # every connection gets the new state


@dataclass(frozen=True)
class PendingResolve:
    """An accepted resolve whose training sample (if any) the server writes off the loop first."""

    entry: QueuedHandoff
    resolution: records.HandoffResolution
    wants_sample: bool


class TeleopRules:
    """One robot's teleop state: its lease, the handoff queue, the deadman/heartbeat control, the e-stop."""

    def __init__(
        self,
        robot_id: str,
        store: Store,
        operator_robots: dict[str, tuple[str, ...]],
        port: RobotPort,
        audit: AuditLog,
        *,
        heartbeat_timeout_s: float = 0.25,
        lease_timeout_s: float = 30.0,
        translation_scale: float = 1.0,
    ) -> None:
        self.robot_id = robot_id
        self.store = store
        self.operator_robots = operator_robots  # name -> robots it may claim (empty: any)
        self.port = port
        self.audit = audit
        self.lease_timeout_s = lease_timeout_s
        self.leases = LeaseBook(lease_timeout_s)
        self.queue = HandoffQueue()
        self.control = TeleopControl(
            Workspace.for_store(store), store.robot.gripper.max_opening, heartbeat_timeout_s, translation_scale
        )
        self.camera_ids = [c.id for c in store.cameras]
        self.sku_ids = sorted(store.skus)
        self.robot_state: dict = {}
        self.arm_pose: tuple[tuple[float, float, float], float] | None = None  # grasp centre and yaw
        self.estop_engaged = False
        self.counters: dict[str, int] = {}
        self.on_resolved: list[Callable[[records.HandoffResolution], None]] = []  # after each is published
        self._engaged_reported = False
        self._pose_notes = 0

    # --- what the app sees ------------------------------------------------------------------

    def holder_name(self) -> str | None:
        lease = self.leases.holder(self.robot_id)
        return lease.operator if lease else None

    def lease_info(self) -> dict | None:
        lease = self.leases.holder(self.robot_id)
        if lease is None:
            return None
        return {"operator": lease.operator, "request_id": lease.request_id, "engaged": self.control.engaged}

    def state(self, operator: str | None, wall_now: float) -> dict:
        target = self.control.target
        return {
            "type": "state",
            "robot_id": self.robot_id,
            "store": self.store.name,
            "you": operator,
            "queue": self.queue.summary(wall_now),
            "lease": self.lease_info(),
            "cameras": self.camera_ids,
            "skus": self.sku_ids,
            "foreign_label": FOREIGN_ITEM_LABEL,
            "robot": self.robot_state,
            "estop": self.estop_engaged,
            "target": None if target is None else {"position": target.position, "yaw": target.yaw},
        }

    def publish_status(self, why: str) -> None:
        lease = self.leases.holder(self.robot_id)
        status = records.TeleopStatus(
            stamp=max(0.0, self.port.ros_now()),
            operator=lease.operator if lease else None,
            request_id=lease.request_id if lease else None,
            control="operator" if lease else "autonomy",
            engaged=bool(lease) and self.control.engaged,
        )
        self._engaged_reported = status.engaged
        self.port.publish_status(status)
        log.info("teleop status: %s (%s)", status.control, why)

    # --- inputs from the robot's side -------------------------------------------------------

    def add_handoff(self, request: records.HandoffRequest, frame_jpeg: bytes | None, wall_now: float) -> Effects:
        dropped = self.queue.add(request, wall_now, frame_jpeg)
        if dropped is not None:
            log.warning("handoff queue full: dropped the oldest unclaimed request %s", dropped.request.request_id)
        self.audit.write("handoff_queued", self.robot_id, None, f"{request.request_id} {request.kind}")
        return Effects(broadcast=True)

    def on_estop_topic(self, engaged: bool) -> Effects:
        """The e-stop as its topic says (a hardware button, or this bridge)."""
        if engaged == self.estop_engaged:
            return Effects()
        self.estop_engaged = engaged
        if engaged:
            self.control.hold()
        return Effects(broadcast=True)

    # --- messages from a logged-in connection -----------------------------------------------

    def handle(self, conn: Conn, msg: P.ClientMessage, now: float) -> Effects:
        """Heartbeat, pose, claim, release and e-stop (resolve: :meth:`plan_resolve`)."""
        robot = self.robot_id
        holds = self.leases.controls(robot, conn.id)
        if isinstance(msg, P.Heartbeat):
            if holds:
                self.leases.touch(robot, conn.id, now)
                self.control.heartbeat(now)
            return Effects()
        if isinstance(msg, P.Pose):
            return self._pose(conn, msg, holds, now)
        if isinstance(msg, P.Claim):
            return self._claim(conn, msg.request_id, now)
        if isinstance(msg, P.Release):
            return self.release(conn, "hand-back")
        if isinstance(msg, P.Estop):
            return self._estop(conn, msg.engaged, holds)
        raise TypeError(f"not a rules message: {type(msg).__name__}")

    def _refused(self, conn: Conn, kind: str, reason: str, tell: bool = True) -> Effects:
        return Effects(refusals=[Refusal(kind, reason, reason if tell else None, conn.operator, conn.peer)])

    def _pose(self, conn: Conn, msg: P.Pose, holds: bool, now: float) -> Effects:
        # A refused pose is not answered: an app streams 60-90 a second.
        if not holds:
            return self._refused(conn, "pose", f"{conn.id}: no lease on {self.robot_id}: pose ignored", tell=False)
        if self.estop_engaged:
            self.control.hold()
            return self._refused(conn, "pose", f"{conn.id}: e-stop engaged: pose ignored", tell=False)
        self.leases.touch(self.robot_id, conn.id, now)
        decision = self.control.on_pose(msg, now)
        if self._engaged_reported != self.control.engaged:  # the status first: the arm resets on it
            self.publish_status("deadman engaged" if self.control.engaged else decision.reason)
        if decision.target is not None:
            self.port.publish_target(decision.target)
        elif decision.reason:
            self._pose_notes += 1
            if self._pose_notes % 100 == 1:
                log.info("%s: %s", conn.operator, decision.reason)
        return Effects()

    def _claim(self, conn: Conn, request_id: str | None, now: float) -> Effects:
        robot, operator = self.robot_id, conn.operator
        allowed = self.operator_robots.get(operator, ())
        if allowed and robot not in allowed:
            return Effects(refusals=[Refusal("claim", f"{operator} may not operate {robot}",
                                             f"you may not operate {robot}", operator, conn.peer)])  # fmt: skip
        try:
            entry = self.queue.get(request_id) if request_id else None
            if request_id and entry is None:
                raise LeaseError(f"no open handoff request {request_id}")
            first = self.leases.holder(robot) is None
            self.leases.claim(robot, operator, conn.id, request_id, now)
            if request_id:
                self.queue.claim(request_id, operator)
        except LeaseError as err:
            return self._refused(conn, "claim", str(err))
        if first:
            # Control starts where the arm is, so the first target does not move it; without joint
            # states, at the handoff's lane.
            home, yaw = None, 0.0
            if self.arm_pose is not None:
                home, yaw = self.arm_pose
            elif entry is not None and entry.request.lane_id in self.store.lane_by_id:
                home = self.store.lane_by_id[entry.request.lane_id].loading_point()
            self.control.reset(home, yaw)
            self.control.heartbeat(now)
        self.audit.write("claim", robot, operator, request_id or "", conn.peer)
        self.publish_status(f"claimed by {operator}")
        return Effects(broadcast=True)

    def release(self, conn: Conn, why: str) -> Effects:
        try:
            self.leases.release(self.robot_id, conn.id)
        except LeaseError as err:
            return self._refused(conn, "release", str(err))
        self.control.hold()
        self.queue.unclaim_all(conn.operator)
        self.audit.write("release", self.robot_id, conn.operator, why, conn.peer)
        self.publish_status(f"released by {conn.operator} ({why})")
        return Effects(broadcast=True)

    def _estop(self, conn: Conn, engaged: bool, holds: bool) -> Effects:
        if not engaged and not holds:
            # Anyone logged in may stop the robot; only the operator in control may let it go again.
            return Effects(refusals=[Refusal("estop", f"{conn.operator} cannot release the e-stop without the lease",
                                             "releasing the e-stop needs the lease", conn.operator, conn.peer)])  # fmt: skip
        if engaged:
            self.control.hold()
        self.estop_engaged = engaged
        self.port.publish_estop(engaged)
        self.audit.write("estop" if engaged else "estop_release", self.robot_id, conn.operator, "", conn.peer)
        log.warning("e-stop %s by %s", "ENGAGED" if engaged else "released", conn.operator)
        return Effects(broadcast=True)

    def plan_resolve(self, conn: Conn, msg: P.Resolve) -> PendingResolve | Effects:
        """A resolve the rules accept (then :meth:`finish_resolve`), or the refusal."""
        lease = self.leases.holder(self.robot_id)
        entry = self.queue.get(msg.request_id)
        reason = None
        if lease is None or lease.connection != conn.id:
            reason = f"no lease on {self.robot_id}"
        elif entry is None:
            reason = f"no open handoff request {msg.request_id}"
        elif entry.claimed_by != conn.operator:
            reason = f"handoff {msg.request_id} is not claimed by {conn.operator}"
        elif msg.action == "labelled" and msg.label not in (*self.sku_ids, FOREIGN_ITEM_LABEL):
            reason = f"label {msg.label!r} is neither a SKU of this store nor {FOREIGN_ITEM_LABEL!r}"
        if reason is not None or entry is None:
            return self._refused(conn, "resolve", reason or "")
        label = msg.label if msg.action == "labelled" else (FOREIGN_ITEM_LABEL if msg.action == "removed" else None)
        resolution = records.HandoffResolution(
            request_id=msg.request_id,
            operator=conn.operator,
            action=msg.action,
            label=label,
            stamp=max(0.0, self.port.ros_now()),
            note=msg.note,
        )
        return PendingResolve(entry, resolution, label is not None and entry.request.kind == "unfamiliar_item")

    def plan_remote_resolve(self, resolution: records.HandoffResolution) -> PendingResolve | str:
        """A resolution an operator made elsewhere (the fleet's queue) for a handoff open here: the
        plan for :meth:`finish_resolve`, or why it is not acted on (resolved here already, or a label
        this store does not know: the same label rule as a resolve made here)."""
        entry = self.queue.get(resolution.request_id)
        if entry is None:
            return f"no open handoff request {resolution.request_id}"
        if resolution.action == "labelled" and resolution.label not in (*self.sku_ids, FOREIGN_ITEM_LABEL):
            return f"label {resolution.label!r} is neither a SKU of this store nor {FOREIGN_ITEM_LABEL!r}"
        wants_sample = resolution.label is not None and entry.request.kind == "unfamiliar_item"
        # Stamped on this robot's clock (sim time in a simulated day), as a resolve made here is.
        local = resolution.model_copy(update={"stamp": max(0.0, self.port.ros_now())})
        return PendingResolve(entry, local, wants_sample)

    def finish_resolve(self, conn: Conn, plan: PendingResolve, sample_name: str | None) -> Effects:
        resolution = plan.resolution
        rid = resolution.request_id
        if self.queue.get(rid) is not plan.entry:  # resolved meanwhile (the sample was being written)
            return self._refused(conn, "resolve", f"no open handoff request {rid}")
        self.queue.resolve(rid)
        self.port.publish_resolution(resolution)
        for hook in self.on_resolved:
            hook(resolution)
        lease = self.leases.holder(self.robot_id)
        if lease is not None and lease.request_id == rid:
            lease.request_id = None  # still in control, with nothing claimed
            self.publish_status(f"{rid} resolved")
        detail = f"{rid} {resolution.action} {resolution.label or ''}".strip()
        self.audit.write(
            "resolve",
            self.robot_id,
            conn.operator,
            detail + (f" sample={sample_name}" if sample_name else ""),
            conn.peer,
        )
        ack = {"type": "ack", "of": "resolve", "request_id": rid, "sample": sample_name}
        return Effects(replies=[ack], broadcast=True)

    # --- time and connections ---------------------------------------------------------------

    def tick(self, now: float) -> Effects:
        """The heartbeat watchdog and lease expiry (the server calls this every ~20 ms)."""
        fx = Effects()
        why = self.control.tick(now)
        if why:
            self.counters["heartbeat_timeout"] = self.counters.get("heartbeat_timeout", 0) + 1
            log.warning("%s (operator %s)", why, self.holder_name())
            self.audit.write("hold", self.robot_id, self.holder_name(), why)
        if self._engaged_reported != (self.control.engaged and self.holder_name() is not None):
            self.publish_status("deadman engaged" if self.control.engaged else why or "holding")
        for lease in self.leases.expire(now):
            self.control.hold()
            self.queue.unclaim_all(lease.operator)
            self.audit.write("lease_timeout", lease.robot, lease.operator, f"silent {self.lease_timeout_s} s")
            log.warning("lease of %s on %s timed out", lease.operator, lease.robot)
            self.publish_status("lease timeout")
            fx.broadcast = True
        return fx

    def disconnect(self, conn: Conn) -> Effects:
        gone = self.leases.drop_connection(conn.id)
        for lease in gone:
            self.control.hold()
            self.queue.unclaim_all(lease.operator)
            self.audit.write("release", lease.robot, lease.operator, "disconnect", conn.peer)
            self.publish_status(f"{lease.operator} disconnected")
        return Effects(broadcast=bool(gone))
