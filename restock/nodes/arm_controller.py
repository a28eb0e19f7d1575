"""The arm controller node: restock tasks in, safe joint trajectories out.

Subscribes: planner/tasks, joint_states, estop, teleop/ee_target, teleop/gripper, teleop/status,
handoff/resolutions, shelf/observations (a loaded lane must be seen stocked), cameras/wrist/image_raw
and depth/image_raw (the frames it asked for). Publishes: arm_controller/joint_trajectory,
gripper_controller/commands, arm_controller/results, handoff/requests, cameras/wrist/trigger (a
wrist frame, please), shelf/observations (a lane counted from behind, as camera ``wrist``) (and, as
every node, diagnostics). Serves nothing. Settings: ArmControllerSettings
(restock.motion.arm_settings), read as ``self.settings``.

A thin shell over restock.motion: the executor (tasks), the teleop follower (operator targets),
the envelope (which both already pass every trajectory through) and the gate (who may move the
arm: e-stop, joint_states watchdog, operator, wake-up of a racing simulator). This node adds the
clock, carries the gate's changes out (an empty trajectory at once: the controller stops and
holds) and converts messages (restock.convert).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from restock import records, topics
from restock.convert import ImageFormatError, gripper_holds, rgb8_array, sec_nanosec, stamp_s, yaw_of_quaternion
from restock.motion.arm_settings import ArmControllerSettings
from restock.motion.commands import Command, Hold, PublishRecord, SendTrajectory, SetGripper
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor
from restock.motion.gating import ArmGate, Change
from restock.motion.kinematics import JOINT_NAMES, ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.motion.teleop import TeleopFollower
from restock.motion.trajectory import Trajectory
from restock.motion.verify import PlacementVerifier
from restock.motion.wrist_look import RequestLook, depth_array, see
from restock.nodes.base import ERROR, LATCHED_EVERY_QOS, OK, WARN, RestockNode, run_node
from restock.params import param_specs, settings_from
from restock.vision.appearance import SkuLooks


class ArmControllerNode(RestockNode):
    NODE_NAME = "arm_controller"
    PARAMS = param_specs(ArmControllerSettings)

    def __init__(self) -> None:
        super().__init__()
        s = self.settings = settings_from(ArmControllerSettings, self.p)
        self.store = self.load_store()  # a store the arm cannot reach stops the node (restock.store.serviceable)
        model = ArmModel.from_store(self.store)
        envelope = Envelope(model, s.speed_scale, s.body_margin)
        self.mover = Mover(self.store, envelope)
        self.task_store = TaskStore(Path(s.state_dir) / "tasks.sqlite")
        self.tasks = Executor(self.mover, self.task_store, s.executor(self.get_name()))
        self._noticed_logged = 0  # the executor's notices already in the log
        teleop_envelope = Envelope(model, s.teleop_speed_scale, s.body_margin)
        self.teleop = TeleopFollower(self.mover, teleop_envelope, s.teleop_target_timeout_s)
        self.verifier = PlacementVerifier(timeout_s=s.placement_check_s)
        self.unverified = 0

        self.q: np.ndarray | None = None
        self.gripper_opening: float | None = None
        self.gripper_effort: float | None = None
        self.gripper_command: float = model.max_opening
        self.joint_states_at: float | None = None
        self.joint_states_wall: float = time.monotonic()
        self.measured_at: float | None = None
        self.gate = ArmGate(s.joint_states_timeout_s, s.joint_states_wall_timeout_s, s.wake_above_rate)
        self.sent: tuple[Trajectory, float] | None = None  # last trajectory and when it started
        self.published = 0
        self.rejected = 0

        self.trajectory_pub = self.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, 10)
        self.gripper_pub = self.create_publisher(Float64MultiArray, topics.GRIPPER_COMMAND, 10)
        self.publish_result = self.create_record_publisher(topics.TASK_RESULTS)
        self.publish_handoff = self.create_record_publisher(topics.HANDOFF_REQUESTS)
        self.create_record_subscription(records.RestockTask, topics.RESTOCK_TASKS, self.on_task)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, self.on_resolution)
        self.create_record_subscription(
            records.TeleopStatus, topics.TELEOP_STATUS, self.on_teleop_status, LATCHED_EVERY_QOS
        )
        self.create_record_subscription(records.ShelfObservation, topics.SHELF_OBSERVATIONS, self.on_observation)
        # The till: a lane counted lower after a placement may have sold one (else the placement failed).
        self.create_record_subscription(records.SaleEvent, topics.SALES, self.tasks.on_sale)
        self.create_subscription(JointState, topics.JOINT_STATES, self.on_joint_states, 10)
        self.create_subscription(Bool, topics.ESTOP, self.on_estop, LATCHED_EVERY_QOS)
        self.create_subscription(PoseStamped, topics.TELEOP_TARGET, self.on_teleop_target, 10)
        self.create_subscription(Float64, topics.TELEOP_GRIPPER, self.on_teleop_gripper, 10)
        # The wrist camera: a frame (colour and depth) asked for by the executor (restock.motion.wrist_look).
        wrist = self.store.robot.wrist_camera.id
        self.model = model
        self.looks = SkuLooks(self.store)
        self.wrist_frames: dict[str, Image] = {}
        self.publish_observation = self.create_record_publisher(topics.SHELF_OBSERVATIONS)
        self.trigger_pub = self.create_publisher(Header, topics.camera_trigger(wrist), 10)
        self.create_subscription(Image, topics.camera_image(wrist), lambda m: self.on_wrist_frame("rgb", m), 2)
        self.create_subscription(Image, topics.camera_depth(wrist), lambda m: self.on_wrist_frame("depth", m), 2)
        self._control_due = False
        self.create_sim_timer(1.0 / s.control_rate_hz, self._control_tick, self._control_wanted)
        self.set_health(WARN, "waiting for joint_states")

    # --- inputs -------------------------------------------------------------------------

    def on_task(self, task: records.RestockTask) -> None:
        self.carry_out(self.tasks.submit(task, self.now_s()))

    def on_resolution(self, resolution: records.HandoffResolution) -> None:
        self.carry_out(self.tasks.resolve(resolution, self.now_s()))

    def on_joint_states(self, msg: JointState) -> None:
        try:
            index = {n: i for i, n in enumerate(msg.name)}
            q = np.array([msg.position[index[n]] for n in JOINT_NAMES], dtype=float)
            grip = float(msg.position[index["gripper"]]) if "gripper" in index else None
            effort = msg.effort[index["gripper"]] if "gripper" in index and len(msg.effort) > index["gripper"] else None
        except (KeyError, IndexError) as err:
            self.get_logger().warning(f"dropped joint_states without joint {err}")
            return
        if not np.all(np.isfinite(q)):
            self.get_logger().warning("dropped joint_states with NaN/inf positions")
            return
        self.q = q
        self.gripper_opening = grip
        self.gripper_effort = None if effort is None else float(effort)  # squeeze (N), where the driver reports it
        self.joint_states_at = self.now_s()
        self.joint_states_wall = time.monotonic()
        stamp = stamp_s(msg.header.stamp)
        self.measured_at = stamp if stamp > 0 else self.joint_states_at
        self.gate.on_feedback(self.joint_states_wall, self.measured_at)
        if self._control_due:
            self._control_due = False
            self.on_control()

    def on_estop(self, msg: Bool) -> None:
        change = self.gate.on_estop(msg.data)
        if change is Change.STOPPED:
            self.hold("e-stop")  # at once, not at the next control period
            self.carry_out(self.tasks.pause("e-stop"))
            self.set_health(ERROR, "e-stop: holding")
        elif change is Change.CLEARED:
            self.resume_if_clear()

    def on_teleop_status(self, status: records.TeleopStatus) -> None:
        for change in self.gate.on_teleop(status.control == "operator", status.operator):
            if change is Change.TAKEN:
                self.carry_out(self.tasks.pause(f"operator {self.gate.operator} in control"))
            elif change is Change.NEW_HAND:  # forget the previous operator's target
                self.teleop.reset()
            elif change is Change.RELEASED:
                self.teleop.reset()
                self.hold("operator released control")
                self.resume_if_clear()

    def on_observation(self, observation: records.ShelfObservation) -> None:
        self.verifier.observe(observation)
        if self.joint_states_at is not None and not self.gate.stale:
            self.check_placements(self.now_s())  # a look past a deadline decides at once

    def check_placements(self, now: float) -> None:
        for lane_id in self.verifier.overdue(now):
            self.unverified += 1
            self.publish_handoff(
                records.HandoffRequest(
                    request_id=f"arm-verify-{lane_id}-{self.unverified}",
                    source=self.get_name(),
                    kind="other",
                    stamp=now,
                    lane_id=lane_id,
                    detail=f"containers were placed in {lane_id} but the camera still sees it empty",
                )
            )

    def on_wrist_frame(self, kind: str, msg: Image) -> None:
        """A wrist frame's colour or depth half; both halves of one stamp answer the executor's look."""
        look = self.tasks.look
        if look is None or stamp_s(msg.header.stamp) < self.tasks.look_since - 1e-6:
            return  # not asked for, or taken before it was
        self.wrist_frames[kind] = msg
        rgb_msg, depth_msg = self.wrist_frames.get("rgb"), self.wrist_frames.get("depth")
        if rgb_msg is None or depth_msg is None or rgb_msg.header.stamp != depth_msg.header.stamp:
            return
        self.wrist_frames.clear()
        if self.q is None:
            return
        try:
            rgb = rgb8_array(rgb_msg.data, rgb_msg.width, rgb_msg.height, rgb_msg.step, rgb_msg.encoding)
            d = depth_msg
            depth = depth_array(d.data, d.width, d.height, d.step, d.encoding)
        except (ImageFormatError, ValueError) as err:
            self.get_logger().warning(f"dropped a wrist frame: {err}", throttle_duration_sec=5.0)
            return
        taken = stamp_s(rgb_msg.header.stamp)
        seen = see(self.store, self.model, self.looks, look, rgb, depth, self.q, self.gripper_opening, taken)
        self.carry_out(self.tasks.seen(seen, self.now_s()))

    def on_teleop_target(self, msg: PoseStamped) -> None:
        if not self.gate.operator_inputs:
            return
        if msg.header.frame_id not in ("", "store"):
            self.rejected += 1
            self.get_logger().warning(
                f"teleop target rejected: frame {msg.header.frame_id!r}, expected 'store'", throttle_duration_sec=1.0
            )
            return
        o = msg.pose.orientation
        yaw = yaw_of_quaternion(o.x, o.y, o.z, o.w)
        pos = msg.pose.position
        ref = self.commanded_state()[0]
        reason = self.teleop.on_target(pos.x, pos.y, pos.z, yaw, self.now_s(), ref)
        if reason:
            self.rejected += 1
            self.get_logger().warning(f"teleop target rejected: {reason}", throttle_duration_sec=1.0)
            return
        self.teleop_step()  # answer at once: latency matters more than the timer's phase

    def on_teleop_gripper(self, msg: Float64) -> None:
        if not self.gate.operator_inputs:
            return
        cmd = self.teleop.on_gripper(msg.data)
        if cmd is not None:
            self.carry_out([cmd])

    # --- the loop -----------------------------------------------------------------------

    def _control_tick(self) -> None:
        if self.lockstep is None:
            self.on_control()
        else:  # lockstep: on this sync point's joint_states, which come right after /clock
            self._control_due = True

    def _control_wanted(self, next_at: float) -> float | None:
        """Under lockstep: when the control loop must run next (None: idle until a message)."""
        if self.gate.operator is not None:
            return next_at
        wanted = [t for t in (self.tasks.wake_at(next_at),) if t is not None]
        wanted += [deadline + 1e-3 for deadline in self.verifier.wake_at()]  # overdue: strictly after
        return min(wanted) if wanted else None

    def on_control(self) -> None:
        now = self.now_s()
        if self.joint_states_at is None:
            return
        change = self.gate.watchdog(now, self.joint_states_at, time.monotonic(), self.joint_states_wall)
        if change is Change.STOPPED:
            self.hold("joint_states stale")
            self.carry_out(self.tasks.pause("joint_states stale"))
            self.set_health(ERROR, f"no joint_states for {now - self.joint_states_at:.2f} s: holding")
        elif change is Change.CLEARED:
            self.resume_if_clear()
        if self.gate.stale:
            return
        self.check_placements(now)
        if self.gate.estop:
            return
        if self.gate.operator is not None:
            self.teleop_step()
            self.set_health(OK, f"teleop: {self.gate.operator} in control", rejected_targets=self.teleop.rejected)
            return
        awake, wake_up = self.gate.wake(self.tasks.step_due, time.monotonic())
        if wake_up:
            self.publish_hold()  # tells a racing simulator a command is coming (restock.motion.gating)
        if not awake:
            return
        self.carry_out(self.tasks.tick(now, self.q, self.gripper_opening, self.measured_at, wall=time.monotonic()))
        level = ERROR if self.tasks.fault else OK
        self.set_health(
            level,
            self.tasks.status,
            queued=len(self.tasks.queue),
            parked=len(self.tasks.parked),
            trajectories=self.published,
            gripper_effort_n=-1.0 if self.gripper_effort is None else round(self.gripper_effort, 2),
        )

    def teleop_step(self) -> None:
        p, v, a = self.commanded_state()
        held = gripper_holds(self.gripper_opening, self.gripper_command)
        refused = self.teleop.rejected
        cmd = self.teleop.step(self.now_s(), p, v, a, held)
        if self.teleop.rejected > refused:  # the arm brakes (or holds): say why, for the operator's log
            self.get_logger().warning(f"teleop target refused: {self.teleop.last_reason}", throttle_duration_sec=1.0)
        if cmd is not None:
            self.carry_out([cmd])

    def resume_if_clear(self) -> None:
        if self.gate.clear:
            self.tasks.resume()
            self.set_health(OK, "resuming")
        elif self.gate.estop:  # feedback came back, the e-stop still holds: say so, not the old cause
            self.set_health(ERROR, "e-stop: holding")

    def commanded_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where the arm is told to be now: the running trajectory's state, else the measured joints."""
        if self.sent is not None:
            traj, start = self.sent
            return traj.state_at(self.now_s() - start)
        q = self.q if self.q is not None else np.zeros(5)
        return q.copy(), np.zeros(5), np.zeros(5)

    # --- outputs ------------------------------------------------------------------------

    def carry_out(self, commands: list[Command]) -> None:
        for t, what, detail in self.tasks.noticed[self._noticed_logged :]:  # for a day's account of failures
            self.get_logger().info(f"noticed {what} at {t:.2f}: {detail}")
        self._noticed_logged = len(self.tasks.noticed)
        for c in commands:
            if isinstance(c, SendTrajectory):
                self.send(c.trajectory, c.start)
            elif isinstance(c, Hold):
                self.hold(c.reason)
            elif isinstance(c, SetGripper):
                if self.gate.estop or self.gate.stale:
                    continue  # the fingers hold too: opening them would drop what they carry
                self.gripper_command = c.opening
                self.gripper_pub.publish(Float64MultiArray(data=[float(c.opening)]))
            elif isinstance(c, RequestLook):
                header = Header(frame_id=c.purpose)
                header.stamp = self.get_clock().now().to_msg()
                self.trigger_pub.publish(header)
            elif isinstance(c, PublishRecord):
                if isinstance(c.record, records.ShelfObservation):
                    self.publish_observation(c.record)
                elif isinstance(c.record, records.HandoffRequest):
                    self.get_logger().warning(f"handoff {c.record.kind}: {c.record.detail}")
                    self.publish_handoff(c.record)
                else:
                    self.publish_result(c.record)
                    if isinstance(c.record, records.TaskResult) and c.record.placed > 0:
                        self.verifier.placed(c.record.lane_id, self.now_s())

    def send(self, traj: Trajectory, start: float | None = None) -> None:
        """Publish a trajectory the envelope admitted (the executor and the follower check every one).

        ``start``: its header.stamp (sim or wall seconds), when its time_from_start counts from;
        None: now.
        """
        if self.gate.estop or self.gate.stale:
            return  # nothing moves while held
        msg = JointTrajectory()
        start_ns = self.get_clock().now().nanoseconds if start is None else round(start * 1e9)
        msg.header.stamp = Time(nanoseconds=start_ns).to_msg()
        msg.joint_names = list(JOINT_NAMES)
        for t, p, v, a in zip(traj.times, traj.positions, traj.velocities, traj.accelerations, strict=True):
            sec, nanosec = sec_nanosec(t)
            msg.points.append(
                JointTrajectoryPoint(
                    positions=p.tolist(),
                    velocities=v.tolist(),
                    accelerations=a.tolist(),
                    time_from_start=Duration(sec=sec, nanosec=nanosec),
                )
            )
        self.trajectory_pub.publish(msg)
        self.sent = (traj, start_ns * 1e-9)
        self.published += 1

    def hold(self, reason: str) -> None:
        """An empty trajectory: the controller stops where it is and holds."""
        self.publish_hold()
        self.get_logger().info(f"hold: {reason}")

    def publish_hold(self) -> None:
        msg = JointTrajectory()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.joint_names = list(JOINT_NAMES)
        self.trajectory_pub.publish(msg)
        self.sent = None

    def on_shutdown(self) -> None:
        self.task_store.close()


def main() -> None:
    raise SystemExit(run_node(ArmControllerNode))


if __name__ == "__main__":
    main()
