"""The simulator node: the MuJoCo store as a robot's drivers would present it. It is the clock.

Subscribes: arm_controller/joint_trajectory (trajectory_msgs/JointTrajectory, executed like a
ros2_control joint_trajectory_controller), gripper_controller/commands (std_msgs/Float64MultiArray,
data[0] = opening in m), handoff/requests + handoff/resolutions (an operator's removals),
planner/backroom_alerts (the store's staff answer each raised alert after staff_response_s with a
top-up, and say so on backroom/restocks).
Publishes: /clock, joint_states, pos/sales (the till, pos_feed), cameras/<id>/image_raw +
camera_info (at each camera's rate in sim time), cameras/wrist/image_raw + depth/image_raw (32FC1)
+ camera_info (the robot's wrist camera, one frame per message on cameras/wrist/trigger), sim/ground_truth (SimGroundTruth JSON, evaluation
only), backroom/restocks, diagnostics. Serves nothing. Settings: SimSettings
(restock.sim.sim_settings), read as ``self.settings``. ``restock-sim --gz-adapter`` runs the
Gazebo adapter instead (restock/nodes/gz_adapter.py).

The loop runs on a steady wall-clock timer (the node's own ROS clock may follow /clock, which it
publishes itself) and advances the world by real_time_factor x wall time, or as fast as it can
when real_time_factor is 0. With ``lockstep`` it instead steps from one sync point to the next
only when every participant has answered the last (restock.graph.lockstep; acks on
lockstep/acks), so sim-time outcomes do not depend on the machine's load. The decisions live in pure modules: the store in restock.sim.world,
the pacing and due times in restock.sim.pacing, receipt numbers in restock.sim.till, and the
order of save and send in restock.sim.checkpoint.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.clock import Clock as RclClock
from rclpy.clock import ClockType
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header, String
from trajectory_msgs.msg import JointTrajectory

from restock import records, topics
from restock.convert import gripper_opening, sec_nanosec, stamp_s
from restock.graph.lockstep import Barrier
from restock.nodes.base import ACK_QOS, ALERT_QOS, OK, RECORD_QOS, SALES_HISTORY_QOS, WARN, RestockNode, run_node
from restock.params import ConfigError, param_specs, settings_from
from restock.sim.checkpoint import CheckpointError, SimCheckpoints, ground_truth_tick, resume
from restock.sim.events import EventScriptError, schedule_events
from restock.sim.pacing import MAX_FAST_STEP_S, MAX_TICK_WALL_S, WALL_TICK_S, Every, Pacer
from restock.sim.sim_settings import SimSettings
from restock.sim.simtime import parse_time
from restock.sim.till import Till
from restock.sim.trajectory import JointPath, TrajectoryError
from restock.sim.world import JOINT_NAMES, World


def _stamp(t: float) -> Time:
    sec, nanosec = sec_nanosec(t)
    return Time(sec=sec, nanosec=nanosec)


LOCKSTEP_SETTLE_WALL_S = 1.0  # after every participant first answered: discovery settles before step one


class SimNode(RestockNode):
    NODE_NAME = "sim"
    PARAMS = param_specs(SimSettings)
    CLOCK_SOURCE = True

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        s = self.settings = settings_from(SimSettings, self.p)
        try:
            start = parse_time(s.start_time)
        except ValueError as err:
            raise ConfigError(f"sim.start_time: {err}") from None
        self.world = World(self.store, seed=s.seed, start_time=start, fill=s.initial_fill)
        self.world.faults.grip_force_scale = s.grip_force_scale
        self.world.faults.friction_scale = s.friction_scale
        self.till = Till(s.pos_feed)
        self.checkpoints: SimCheckpoints | None = None
        resumed = self._resume(s.state_path)  # before customers and events: they start from its time
        self._set_customers()
        try:
            schedule_events(self.world, s.scripted_events)
        except EventScriptError as err:
            raise ConfigError(f"sim.scripted_events: {err}") from None
        if s.random_events_per_hour > 0:
            self.world.random_events(s.random_events_per_hour, until=start + 366 * 86400.0)
        if s.mixups_per_hour > 0:
            self.world.random_events(s.mixups_per_hour, kinds=("mixup",), until=start + 366 * 86400.0)
        if s.faults_per_hour > 0:
            self.world.random_faults(s.faults_per_hour, until=start + 366 * 86400.0)

        self.clock_pub = self.create_publisher(Clock, topics.CLOCK, 10)
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.truth_pub = self.create_publisher(String, topics.SIM_GROUND_TRUTH, RECORD_QOS)
        # The store's point-of-sale system: what the till knows (a sale, its SKU), not the shelf.
        # It keeps its recent sales for a planner that restarts (receipt numbers tell repeats).
        self._sales_pub = self.create_publisher(String, topics.SALES, SALES_HISTORY_QOS)
        for data in self.till.replay():  # the last tick's may not have gone out before the crash
            self._sales_pub.publish(String(data=data))
        self.image_pubs = {
            c.id: (
                self.create_publisher(Image, topics.camera_image(c.id), 2),
                self.create_publisher(CameraInfo, topics.camera_info(c.id), 2),
            )
            for c in self.store.cameras
        }
        # The wrist camera: a frame (colour and depth) whenever the arm asks for one.
        wrist = self.store.robot.wrist_camera.id
        self.wrist_pubs = (
            self.create_publisher(Image, topics.camera_image(wrist), 2),
            self.create_publisher(Image, topics.camera_depth(wrist), 2),
            self.create_publisher(CameraInfo, topics.camera_info(wrist), 2),
        )
        self.create_subscription(Header, topics.camera_trigger(wrist), self.on_wrist_trigger, 10)
        self.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, self.on_trajectory, 10)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_COMMAND, self.on_gripper, 10)
        # An operator's "removed"/"cleared" is physical work: the world applies it (see World.clear_foreign).
        self._handoff_lanes: dict[str, str | None] = {}
        self._wrong_items: dict[str, str] = {}  # wrong_item request -> its stock location
        self._jams: dict[str, str] = {}  # blocked_lane request -> its lane (a person sets it straight)
        self.create_record_subscription(records.HandoffRequest, topics.HANDOFF_REQUESTS, self.on_handoff_request)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, self.on_resolution)
        # The store's staff: each back-room alert is answered once, staff_response_s later.
        self._alerts_answered: set[str] = set()
        self._alerts_cleared: set[str] = set()
        self._restock_pub = self.create_record_publisher(topics.BACKROOM_RESTOCKS)
        self.create_record_subscription(
            records.BackroomAlert, topics.BACKROOM_ALERTS, self.on_backroom_alert, ALERT_QOS
        )

        now = self.world.time
        rate = s.camera_rate_hz
        self._cams = {c.id: Every(1.0 / (rate or c.rate_hz), now) for c in self.store.cameras}
        self._joints = Every(1.0 / s.joint_state_rate_hz, now)
        idle_rate = s.idle_joint_state_rate_hz
        self._idle_joint_period = 1.0 / idle_rate if idle_rate > 0 else self._joints.period
        self._truth = Every(s.ground_truth_period_s, now)
        self.pacer = Pacer(s.real_time_factor, s.active_real_time_factor, s.active_hold_s, time.monotonic(), now)
        self.bad_commands = 0
        self.barrier: Barrier | None = None
        if self.lockstep is not None:
            self._start_barrier()
        self._timer = self.create_timer(WALL_TICK_S, self.tick, clock=RclClock(clock_type=ClockType.STEADY_TIME))
        self.set_health(OK, "running", sim_time=self.world.time)
        if resumed:
            self.get_logger().info(f"resumed the store from {s.state_path} at sim time {self.world.time:.1f}")

    def _resume(self, path: str) -> bool:
        """Open the checkpoint file and go on from its checkpoint if it has one. False: a fresh start."""
        if not path:
            return False
        try:
            self.checkpoints = SimCheckpoints(path)
            return resume(self.checkpoints, self.world, self.till, self.settings.ground_truth_period_s)
        except CheckpointError as err:
            raise ConfigError(f"sim.state_path: {err}") from None

    def _set_customers(self) -> None:
        s = self.settings
        mode = s.customers
        if mode == "demand":
            from restock.demand.generator import DemandGenerator

            per_day, seed = s.containers_per_day, s.seed
            gen = (
                DemandGenerator.for_daily_total(self.store, per_day, seed=seed)
                if per_day > 0
                else DemandGenerator(self.store, seed=seed)
            )
            self.world.set_demand(gen)
        elif mode == "sales_log":
            from restock.demand.saleslog import SalesLogError, read_sales_log

            if not s.sales_log:
                raise ConfigError("sim.sales_log: customers is sales_log but no sales_log file is given")
            try:
                self.world.set_sales_log(read_sales_log(s.sales_log, self.store))
            except SalesLogError as err:
                raise ConfigError(str(err)) from None

    # --- commands -----------------------------------------------------------------------

    def on_handoff_request(self, req: records.HandoffRequest) -> None:
        if req.kind in ("unfamiliar_item", "obstruction", "blocked_lane"):
            self._handoff_lanes[req.request_id] = req.lane_id
        if req.kind == "blocked_lane" and req.lane_id is not None:
            self._jams[req.request_id] = req.lane_id
        if req.kind == "wrong_item" and req.stock_location is not None:
            self._wrong_items[req.request_id] = req.stock_location

    def on_resolution(self, res: records.HandoffResolution) -> None:
        location = self._wrong_items.pop(res.request_id, None)
        if location is not None and res.action != "abandoned" and location in self.store.stock_by_id:
            # Whatever the operator answers, a person takes the wrong containers out of the location.
            n = self.world.clear_mixups(location)
            self.get_logger().info(f"operator {res.operator}: {n} wrong container(s) taken out of {location}")
        jam = self._jams.pop(res.request_id, None)
        if jam is not None and res.action != "abandoned" and self.world.unstick_lane(jam):
            self.get_logger().info(f"operator {res.operator}: lane {jam} set straight")
        if res.action in ("removed", "cleared") and res.request_id in self._handoff_lanes:
            lane = self._handoff_lanes.pop(res.request_id)
            n = self.world.clear_foreign(lane)
            self.get_logger().info(f"operator {res.operator} {res.action} {n} item(s) from {lane or 'the corridor'}")

    def on_backroom_alert(self, alert: records.BackroomAlert) -> None:
        # A restarted simulator hears the planner's recent alerts again (transient local): staff
        # answer those still raised, and none that was withdrawn before they came.
        if alert.state == "cleared":
            self._alerts_cleared.add(alert.alert_id)
        if alert.state != "raised" or alert.alert_id in self._alerts_answered:
            return
        self._alerts_answered.add(alert.alert_id)
        at = self.world.time + self.settings.staff_response_s
        self.world.schedule(at, lambda: self._staff_top_up(alert))
        self.get_logger().info(f"staff will answer {alert.alert_id} ({alert.sku}) at sim time {at:.0f}")

    def _staff_top_up(self, alert: records.BackroomAlert) -> None:
        if alert.alert_id in self._alerts_cleared:
            return
        location, added, there = self.world.staff_top_up(alert.sku, self.settings.staff_topup)
        restock = records.BackroomRestock(
            stamp=self.world.time,
            sku=alert.sku,
            stock_location=location,
            added=added,
            quantity=there,
            alert_id=alert.alert_id,
        )
        self._restock_pub(restock)
        self.get_logger().info(f"staff brought {added} x {alert.sku} for {alert.alert_id}: {there} there now")

    def _wake(self) -> None:
        """A command: the active cap holds, and joint_states come at their full rate from now."""
        self.pacer.wake(self.world.time)
        self._joints.soon(self.world.time)

    def on_trajectory(self, msg: JointTrajectory) -> None:
        self._wake()
        if not msg.points:
            self.world.stop_trajectory()
            return
        stamp = stamp_s(msg.header.stamp)
        start = stamp if stamp > 0 else self.world.time
        try:
            path = JointPath.from_points(
                list(msg.joint_names),
                start,
                [stamp_s(p.time_from_start) for p in msg.points],
                [list(p.positions) for p in msg.points],
                [list(p.velocities) for p in msg.points] if all(len(p.velocities) for p in msg.points) else None,
            )
            self.world.set_trajectory(path)
        except (TrajectoryError, KeyError) as err:
            self.bad_commands += 1
            self.get_logger().warning(f"trajectory refused: {err}")
            self.set_health(WARN, f"refused a trajectory: {err}", bad_commands=self.bad_commands)

    def on_gripper(self, msg: Float64MultiArray) -> None:
        opening = gripper_opening(msg.data)
        if opening is None:
            self.bad_commands += 1
            self.get_logger().warning(
                f"gripper command refused: expected data[0] = opening >= 0 m, got {list(msg.data)}"
            )
            return
        self._wake()
        self.world.set_gripper(opening)

    # --- the loop -----------------------------------------------------------------------

    def rate(self) -> float:
        """Sim seconds per wall second now (0: as fast as possible)."""
        return self.pacer.rate(self.world.arm_busy, self.world.time)

    def tick(self) -> None:
        if self.barrier is not None:
            self.lockstep_step()
            return
        wall0 = time.monotonic()
        w = self.world
        rate = self.rate()
        target = self.pacer.target(wall0, w.time, rate)
        while w.time < target - 1e-9:
            nxt = min(target, self._joints.next, self._truth.next, *(c.next for c in self._cams.values()))
            if nxt > w.time:
                w.step(nxt - w.time)
            self.publish_due()
            if time.monotonic() - wall0 > MAX_TICK_WALL_S or self.rate() != rate:
                break
        measured = self.pacer.measured(wall0, w.time)
        if measured is not None:
            self.set_health(OK, "running", sim_time=f"{w.time:.3f}", real_time_factor=f"{measured:.2f}")

    # --- lockstep ---------------------------------------------------------------------------

    def _start_barrier(self) -> None:
        s = self.settings
        self.barrier = Barrier(tuple(s.lockstep_participants), s.lockstep_timeout_s)
        self._own_offsets: dict[tuple[str, int], int] = {}
        self._ready_at: float | None = None
        self._stepping = False
        self._clock_phase = False  # False: the sensors at w.time went out (or nothing yet)
        self.create_record_subscription(records.LockstepAck, topics.LOCKSTEP_ACKS, self.on_ack, ACK_QOS)
        self.get_logger().info(f"lockstep: every step waits for {list(s.lockstep_participants)}")

    def on_ack(self, ack: records.LockstepAck) -> None:
        assert self.barrier is not None and self.lockstep is not None
        self.barrier.on_ack(ack, self.lockstep.snapshot)
        self.lockstep_step()

    def after_callback(self) -> None:
        if self.barrier is not None:
            self.lockstep_step()

    def lockstep_step(self) -> None:
        """Step to the next sync point if the graph has settled since the last one."""
        b, w, wall = self.barrier, self.world, time.monotonic()
        assert b is not None and self.lockstep is not None
        if self._stepping:
            return
        if self._ready_at is None or wall - self._ready_at < LOCKSTEP_SETTLE_WALL_S:
            if self._ready_at is None:
                self.lockstep_matched()
                own = self.lockstep.snapshot()
                if b.ready(own):
                    self._ready_at = wall
                    b.start(own, self._own_offsets)
                else:
                    self.set_health(WARN, f"lockstep: waiting for {b.missing() or b.unmatched(own)[:4]}")
            return
        settled = b.settled(self.lockstep.snapshot(), self._own_offsets, wall)
        for line in b.log:
            self.get_logger().warning(line)
        b.log.clear()
        if not settled and b.waiting_since is not None:
            return
        b.answered(wall)
        # joint_states go out at every sync point: the arm asks for the sync points it needs.
        target = min(self._truth.next, *(c.next for c in self._cams.values()))
        target = min(target, b.next_due(w.time), w.time + MAX_FAST_STEP_S)
        if not self._clock_phase and self.settings.real_time_factor > 0:  # a pace too: never ahead of it
            target = min(target, self.pacer.target(wall, w.time, self.settings.real_time_factor))
            if target <= w.time + 1e-9 and b.waiting_since is not None:
                return
        self._stepping = True
        try:
            if self._clock_phase:  # /clock(t) has settled: the sensors at t
                self._clock_phase = False
                self.publish_sensors(w.time, _stamp(w.time), joints=True)
            else:  # the sensors at t have settled: on to the next sync point
                if target > w.time:
                    w.step(target - w.time)
                self._clock_phase = True
                self.clock_pub.publish(Clock(clock=_stamp(w.time)))
        finally:
            self._stepping = False
        b.stepped(time.monotonic())
        measured = self.pacer.measured(wall, w.time)
        if measured is not None:
            self.set_health(
                OK,
                "running in lockstep",
                sim_time=f"{w.time:.3f}",
                real_time_factor=f"{measured:.2f}",
                lockstep_phases=b.phases,
                lockstep_wait_ms=f"{1000 * b.waited_s / max(1, b.phases):.2f}",
                lockstep_timeouts=b.timeouts,
                lockstep_rebases=b.rebases,
            )

    def on_shutdown(self) -> None:
        b = self.barrier
        if b is not None:
            self.get_logger().info(
                f"lockstep: {b.phases} phases to sim time {self.world.time:.0f}, waited {b.waited_s:.1f} wall s "
                f"for answers ({1000 * b.waited_s / max(1, b.phases):.2f} ms a phase), {b.timeouts} timeouts, "
                f"{b.rebases} rebases"
            )

    def publish_due(self) -> None:
        now = self.world.time
        stamp = _stamp(now)
        self.clock_pub.publish(Clock(clock=stamp))
        self.publish_sensors(now, stamp)

    def publish_sensors(self, now: float, stamp: Time, joints: bool = False) -> None:
        """What is due at ``now``: joint_states (``joints``: in any case), the ground truth with the
        till's sales, camera frames."""
        w = self.world
        if joints or self._joints.due(now):
            q, qd = w.joint_positions(), w.joint_velocities()
            msg = JointState(name=list(JOINT_NAMES), position=[q[n] for n in JOINT_NAMES])
            msg.velocity = [qd[n] for n in JOINT_NAMES]
            effort = w.joint_efforts()  # the drives and the gripper's squeeze: measured, not assumed
            msg.effort = [effort[n] for n in JOINT_NAMES]
            msg.header.stamp = stamp
            self.joint_pub.publish(msg)
            self._joints.done(now, None if self.pacer.active(w.arm_busy, now) else self._idle_joint_period)
        if self._truth.due(now):
            # Saved before anything goes out (ground_truth_tick): what others hear, a restarted sim remembers.
            truth, sales = ground_truth_tick(w, self.till, self.checkpoints)
            self.truth_pub.publish(String(data=records.encode(truth)))
            for data in sales:
                self._sales_pub.publish(String(data=data))
            self._truth.done(now)
        for cam in self.store.cameras:
            if self._cams[cam.id].due(now):
                self.publish_camera(cam.id, stamp)
                self._cams[cam.id].done(now)

    def publish_camera(self, camera_id: str, stamp: Time) -> None:
        cam = self.store.camera(camera_id)
        img, info = _frame(self.world.render(camera_id), cam.model.intrinsics, stamp, f"{camera_id}_optical_frame")
        image_pub, info_pub = self.image_pubs[camera_id]
        image_pub.publish(img)
        info_pub.publish(info)

    def on_wrist_trigger(self, msg: Header) -> None:
        """The arm asks its wrist camera for a frame: colour and depth at sim time now (under
        lockstep the simulator steps only after the arm has it)."""
        wc, w = self.store.robot.wrist_camera, self.world
        stamp, frame = _stamp(w.time), f"{wc.id}_optical_frame"
        f = (wc.height / 2) / math.tan(math.radians(wc.fov_y_deg) / 2)
        k = np.array([[f, 0.0, wc.width / 2], [0.0, f, wc.height / 2], [0.0, 0.0, 1.0]])
        img, info = _frame(w.render(wc.id), k, stamp, frame)
        depth = w.render_depth(wc.id)
        dimg = Image(height=wc.height, width=wc.width, encoding="32FC1", is_bigendian=0, step=wc.width * 4)
        dimg.data = depth.astype("<f4").tobytes()
        dimg.header.stamp, dimg.header.frame_id = stamp, frame
        image_pub, depth_pub, info_pub = self.wrist_pubs
        image_pub.publish(img)
        depth_pub.publish(dimg)
        info_pub.publish(info)


def _frame(rgb: np.ndarray, k: np.ndarray, stamp: Time, frame: str) -> tuple[Image, CameraInfo]:
    """An rgb8 image and its camera_info (pinhole K, no distortion)."""
    height, width = rgb.shape[:2]
    img = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    img.data = rgb.tobytes()
    img.header.stamp, img.header.frame_id = stamp, frame
    info = CameraInfo(height=height, width=width, distortion_model="plumb_bob")
    info.d = [0.0] * 5
    info.k = k.flatten().tolist()
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.stamp, info.header.frame_id = stamp, frame
    return img, info


def main() -> None:
    """``restock-sim``: the embedded simulator; ``restock-sim --gz-adapter``: the Gazebo adapter."""
    if "--gz-adapter" in sys.argv:
        from restock.nodes.gz_adapter import GzAdapterNode

        raise SystemExit(run_node(GzAdapterNode, [a for a in sys.argv if a != "--gz-adapter"]))
    raise SystemExit(run_node(SimNode))


if __name__ == "__main__":
    main()
