"""What every restock node shares: declared parameters, record topics, diagnostics, a clean main().

A node subclasses :class:`RestockNode`, lists its :class:`~restock.params.ParamSpec` in
``PARAMS``, and is started by :func:`run_node`. A bad parameter file or value stops the node
at start with the file and key (exit status 2); a malformed record on any subscribed topic, or
any message a subscription callback raises on, is logged in one rate-limited line, counted in
``records_dropped`` and dropped, and the node carries on; diagnostics report the node's health once a second on a
steady clock, so they keep coming when sim time stops.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from rosgraph_msgs.msg import Clock as ClockMsg
from std_msgs.msg import String

from restock import records, topics
from restock.graph.lockstep import Participant, SimJob
from restock.graph.signals import held
from restock.malloc import pin_mmap_threshold
from restock.nodes.entry import stop_signalled
from restock.params import (
    ConfigError,
    ParamSpec,
    ParamValue,
    load_params_file,
    params_files_from_args,
    precheck_args,
)
from restock.paths import DEFAULT_STORE, store_file
from restock.store.description import Store, StoreError, load_store

R = TypeVar("R", bound=records.Record)

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE)

_PARAM_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}
_LIST_TYPES = {str: ParameterType.PARAMETER_STRING_ARRAY, float: ParameterType.PARAMETER_DOUBLE_ARRAY}

RECORD_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# A reader of a latched topic that must see every change (a claim and a release in quick
# succession), not only the latest: a late joiner still gets the last one.
LATCHED_EVERY_QOS = QoSProfile(
    depth=20, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# The planner's back-room alerts: a late joiner (the sim's staff, the bridge, the recorder) gets the recent ones.
ALERT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# The till's feed keeps its recent sales for late joiners: a planner restarted after a crash hears
# the sales it missed (and, by receipt number, counts the ones it already had once).
SALES_HISTORY_QOS = QoSProfile(
    depth=2000, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Lockstep acks: only the latest of each participant matters, but none may be dropped unseen.
ACK_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
ACK_HEARTBEAT_S = 0.5  # wall seconds: the latest ack again (a simulator that started later hears it)


class LogLimiter:
    """One log line per kind of problem per period, and at most ``burst`` lines per period in all.

    A flood of bad messages must not become a flood of log lines (the disk and the reader's
    attention are finite): repeats are counted and the count goes out with the next line let through.
    """

    def __init__(self, period_s: float = 10.0, burst: int = 20, max_keys: int = 256) -> None:
        self.period_s = period_s
        self.burst = burst
        self.max_keys = max_keys
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (logged at, suppressed since)
        self._window = (-float("inf"), 0)  # (start, lines let through in it)

    def allow(self, key: str, now: float | None = None) -> int | None:
        """None to stay quiet; else how many lines of this key were held back since its last one."""
        now = time.monotonic() if now is None else now
        logged_at, held_back = self._last.pop(key, (-float("inf"), 0))
        start, lines = self._window
        if now - start >= self.period_s:
            start, lines = now, 0
        let_through = now - logged_at >= self.period_s and lines < self.burst
        if let_through:
            self._last[key] = (now, 0)
            self._window = (start, lines + 1)
        else:
            self._last[key] = (logged_at, held_back + 1)
        while len(self._last) > self.max_keys:
            self._last.popitem(last=False)  # the oldest key: its held-back count is forgotten
        return held_back if let_through else None


def _where(err: BaseException) -> str:
    """file:line of the innermost frame, so one log line still tells where a callback failed."""
    frames = traceback.extract_tb(err.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(
        name=spec.name,
        type=_LIST_TYPES[spec.item_type or str] if spec.type is list else _PARAM_TYPES[spec.type],
        description=spec.description,
        read_only=spec.read_only,
        # An integer given for a float (-p rate:=20) is fine; ParamSpec.check enforces the type.
        dynamic_typing=spec.type is float,
    )
    if spec.choices:
        desc.additional_constraints = f"one of {list(spec.choices)}"
    if spec.type is float and (spec.min is not None or spec.max is not None):
        desc.floating_point_range = [
            FloatingPointRange(
                from_value=float(spec.min if spec.min is not None else -1e308),
                to_value=float(spec.max if spec.max is not None else 1e308),
                step=0.0,
            )
        ]
    elif spec.type is int and (spec.min is not None or spec.max is not None):
        desc.integer_range = [
            IntegerRange(
                from_value=int(spec.min if spec.min is not None else -(2**63)),
                to_value=int(spec.max if spec.max is not None else 2**63 - 1),
                step=1,
            )
        ]
    return desc


class RestockNode(Node):
    """A Node with checked parameters, record helpers and diagnostics."""

    PARAMS: ClassVar[tuple[ParamSpec, ...]] = ()
    NODE_NAME: ClassVar[str] = ""
    CLOCK_SOURCE: ClassVar[bool] = False  # the simulator: it publishes /clock and hears the acks

    def __init__(self, **kwargs: Any) -> None:
        self.lockstep: Participant | None = None  # before Node.__init__: it creates publishers
        super().__init__(self.NODE_NAME, **kwargs)
        self.p: dict[str, ParamValue] = self._declare_checked_parameters()
        if self.p.get("lockstep"):
            self._start_lockstep()
        self._health: tuple[int, str] = (OK, "starting")
        self._health_values: dict[str, str] = {}
        self.records_dropped = 0  # malformed records and messages a callback raised on
        self.callback_errors = 0  # of those, the ones a callback raised on (a bug to look at)
        self._drop_log = LogLimiter()
        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._diag_timer = self.create_timer(
            1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )

    # --- parameters ---------------------------------------------------------------------

    def _declare_checked_parameters(self) -> dict[str, ParamValue]:
        # Which file set each key, so an error names it; the rest came from -p on the command line.
        from_file: dict[str, str] = {}
        for path in params_files_from_args(sys.argv):
            for key in load_params_file(path, self.get_name(), self.get_namespace(), self.PARAMS):
                from_file[key] = str(path)
        values: dict[str, ParamValue] = {}
        for spec in self.PARAMS:
            where = f"{from_file.get(spec.name, 'command line (-p)')}: {self.get_name()}."
            try:
                default = spec.default
                if spec.type is list and not default:  # rclpy reads [] as a byte array: say the type
                    default = Parameter.Type.DOUBLE_ARRAY if spec.item_type is float else Parameter.Type.STRING_ARRAY
                param = self.declare_parameter(spec.name, default, descriptor(spec))
                value = [] if param.value is None else param.value
            except Exception as err:  # rclpy raises several types for a bad override
                raise ConfigError(f"{where}{spec.name}: {err}") from None
            values[spec.name] = spec.check(value, where)
        # rclpy would ignore an override nobody declares: a typo must stop the node instead.
        known = {s.name for s in self.PARAMS} | {"use_sim_time", "start_type_description_service"}
        for name in sorted(set(self._parameter_overrides) - known):
            where = from_file.get(name, "command line (-p)")
            raise ConfigError(f"{where}: {self.get_name()}.{name}: unknown parameter (this node has {sorted(known)})")
        return values

    def load_store(self) -> Store:
        """The store description named by the store_file parameter; a bad file stops the node."""
        path = store_file(str(self.p.get("store_file") or DEFAULT_STORE))
        try:
            return load_store(path)
        except StoreError as err:
            raise ConfigError(str(err)) from None

    # --- lockstep (restock.graph.lockstep) ------------------------------------------------

    def _start_lockstep(self) -> None:
        self._counted_pubs: dict[str, list[Any]] = {}
        self.lockstep = Participant(self.get_name(), f"{os.getpid()}-{time.time_ns()}")
        self._hears_clock = self.CLOCK_SOURCE  # the simulator is the clock
        if self.CLOCK_SOURCE:
            return
        self._ack_pub = self.create_publisher(String, topics.LOCKSTEP_ACKS, ACK_QOS)
        # rclpy's own /clock subscription (best effort, depth 1) could set the clock after ours, or
        # back to an older message: under lockstep the counted subscription below alone sets it.
        self._time_source.detach_node()
        self.get_clock()._set_ros_time_is_active(True)  # /clock below (jobs) or the stamps heard (a camera)
        self.create_timer(ACK_HEARTBEAT_S, self._heartbeat, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _heartbeat(self) -> None:
        self.lockstep_matched()
        self._send_ack(force=True)

    def create_sim_timer(
        self, period_s: float, callback: Callable[[], None], wanted: Callable[[float], float | None] | None = None
    ) -> None:
        """A timer on the node's (sim) clock; under lockstep a job run from /clock, so the simulator
        waits for it. ``wanted(next_at)``: when the job must be woken (None: only with the rest)."""
        if self.lockstep is None:
            self.create_timer(period_s, callback)
            return
        self.lockstep.jobs.append(SimJob(period_s, callback, wanted))
        if not self._hears_clock:
            self._hears_clock = True
            self.create_subscription(ClockMsg, topics.CLOCK, self._on_lockstep_clock, 100)

    def _on_lockstep_clock(self, msg: ClockMsg) -> None:
        # Under lockstep this subscription alone sets the node's clock (rclpy's time source is detached).
        self.get_clock().set_ros_time_override(Time.from_msg(msg.clock))
        now = msg.clock.sec + msg.clock.nanosec * 1e-9
        assert self.lockstep is not None
        for job in self.lockstep.due_jobs(now):
            job.run()
            job.ran(now)

    def _clock_from_stamp(self, msg: Any) -> None:
        """A participant without jobs (a camera) keeps no /clock subscription: the simulator's
        stamp on what it hears (a frame at sync point t) is its clock."""
        stamp = getattr(getattr(msg, "header", None), "stamp", None)
        if stamp is not None and (stamp.sec or stamp.nanosec):
            t = Time.from_msg(stamp)
            if t > self.get_clock().now():
                self.get_clock().set_ros_time_override(t)

    def after_callback(self) -> None:
        """Every counted callback ends here: a participant tells the simulator where it stands."""
        self._send_ack()

    def _send_ack(self, force: bool = False) -> None:
        if self.lockstep is None or self.CLOCK_SOURCE:
            return
        ack = self.lockstep.ack(force)
        if ack is not None:
            self._ack_pub.publish(String(data=records.encode(ack)))

    def create_publisher(self, msg_type: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
        pub = super().create_publisher(msg_type, topic, *args, **kwargs)
        if self.lockstep is None:
            return pub
        self.lockstep.publishes(topic)
        self._counted_pubs.setdefault(topic, []).append(pub)
        return _CountedPublisher(pub, topic, self.lockstep)

    def lockstep_matched(self) -> None:
        """Refresh how many subscriptions each counted publisher is matched with (DDS discovery)."""
        assert self.lockstep is not None
        self.lockstep.matched = {
            topic: min(p.get_subscription_count() for p in pubs) for topic, pubs in self._counted_pubs.items()
        }

    # --- records ------------------------------------------------------------------------

    def create_record_publisher(self, topic: str, qos: QoSProfile = RECORD_QOS) -> Callable[[records.Record], None]:
        pub = self.create_publisher(String, topic, qos)

        def publish(record: records.Record) -> None:
            pub.publish(String(data=records.encode(record)))

        return publish

    def create_record_subscription(
        self, record_type: type[R], topic: str, callback: Callable[[R], None], qos: QoSProfile = RECORD_QOS
    ) -> Any:
        """Subscribe to a record topic; malformed records are logged with the reason and dropped."""

        def on_message(msg: String) -> None:
            try:
                record = records.decode(msg.data, record_type)
            except records.RecordError as err:
                self.drop(f"dropped a malformed record on {topic}: {err}", f"{topic} {str(err)[:40]}")
                return
            callback(record)

        return self.create_subscription(String, topic, on_message, qos)

    def create_subscription(
        self, msg_type: Any, topic: str, callback: Callable[[Any], None], *args: Any, **kwargs: Any
    ) -> Any:
        """Every subscription of a restock node: a callback that raises on a message drops that
        message (logged, counted) instead of ending the node, so one bad input cannot stop it."""

        lockstep = self.lockstep
        slot = lockstep.subscribed(topic) if lockstep is not None else None

        def guarded(msg: Any) -> None:
            if slot is not None and not self._hears_clock:
                self._clock_from_stamp(msg)
            try:
                callback(msg)
            except Exception as err:
                if not self.context.ok():
                    raise  # shutting down: run_node ends the spin cleanly
                self.callback_errors += 1
                reason = f"{type(err).__name__} at {_where(err)}"
                self.drop(
                    f"dropped a message on {topic}: the callback failed: {reason}: {str(err)[:200]}", topic + reason
                )
            if slot is not None:
                lockstep.got(topic, slot)  # type: ignore[union-attr]
                self.after_callback()

        return super().create_subscription(msg_type, topic, guarded, *args, **kwargs)

    def drop(self, line: str, kind: str) -> None:
        """Count a dropped message and log ``line``, once per ``kind`` of problem per period."""
        self.records_dropped += 1
        held_back = self._drop_log.allow(kind)
        if held_back is not None:
            more = f" ({held_back} more like it not logged)" if held_back else ""
            self.get_logger().warning(f"{line}{more}")

    # --- health -------------------------------------------------------------------------

    def set_health(self, level: int, message: str, **values: object) -> None:
        self._health = (level, message)
        self._health_values.update({k: str(v) for k, v in values.items()})

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish_diagnostics(self) -> None:
        level, message = self._health
        status = DiagnosticStatus(
            level=level,
            name=f"restock: {self.get_fully_qualified_name()}",
            message=message,
            hardware_id=self.get_fully_qualified_name(),
            values=[
                KeyValue(key=k, value=v)
                for k, v in {
                    **self._health_values,
                    "records_dropped": str(self.records_dropped),
                    "callback_errors": str(self.callback_errors),
                }.items()
            ],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)


class _CountedPublisher:
    """A publisher that counts what it sends (lockstep); everything else is the publisher's."""

    def __init__(self, pub: Any, topic: str, lockstep: Participant) -> None:
        self._pub, self._topic, self._lockstep = pub, topic, lockstep

    def publish(self, msg: Any) -> None:
        self._pub.publish(msg)
        self._lockstep.published(self._topic)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pub, name)


def run_node(node_cls: type[RestockNode], args: Sequence[str] | None = None, threads: int = 1) -> int:
    """The minimal-node main(): check config, init, spin, shut down cleanly. Returns the exit status."""
    argv = list(sys.argv if args is None else args)
    try:
        precheck_args(argv, node_cls.NODE_NAME, node_cls.PARAMS)
    except ConfigError as err:
        print(f"[{node_cls.NODE_NAME}] configuration error: {err}", file=sys.stderr, flush=True)
        return 2
    pin_mmap_threshold()  # nodes run for weeks: freed frames and buffers go back to the OS
    node: RestockNode | None = None
    try:
        with held():  # a stop signal during start-up lands once the node is whole, then shuts it down
            rclpy.init(args=argv)
            node = node_cls()
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ConfigError as err:
        print(f"[{node_cls.NODE_NAME}] configuration error: {err}", file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A callback that was running when a signal shut the context down fails on its next
        # publish, or a signal's KeyboardInterrupt surfaced as another error from inside a C call:
        # that is a clean shutdown, anything else is a real error.
        if rclpy.ok() and not stop_signalled():
            raise
    finally:
        if node is not None:
            shutdown = getattr(node, "on_shutdown", None)
            if callable(shutdown):
                shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
