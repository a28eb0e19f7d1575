"""`restock sim`: a simulated store day, end to end, headless.

Brings the whole sim profile of the graph up as separate processes on a confined DDS (simulator,
a camera node per camera, planner, arm controller, teleop bridge, recorder), runs N store days on
sim time as fast as the machine allows, resolves handoffs with a scripted operator that speaks the
real bridge protocol, optionally injects faults (--chaos), and ends with a summary table, a report
(PNG plots + HTML) and an MCAP recording. ``--compare`` runs the same day again with the reactive
baseline policy and prints both columns.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restock import records, topics
from restock.day.daystats import FORECAST_STEP_S, DayStats, Forecaster
from restock.day.memory import MemorySampler
from restock.day.operator_clock import NAME as OPERATOR_PARTICIPANT
from restock.day.operator_stand_in import OperatorSetup, start_scripted_operator
from restock.day.report import format_cell
from restock.graph.description import node_instances
from restock.graph.supervisor import Supervisor
from restock.malloc import pin_mmap_threshold
from restock.params import ConfigError
from restock.paths import DEFAULT_STORE, store_file
from restock.rosenv import apply_to_this_process, claim_domain_id, ros_environment
from restock.sim.simtime import parse_time
from restock.store.description import Store, StoreError, load_store

DAY_S = 86400.0


@dataclass
class DayOptions:
    store: str = DEFAULT_STORE
    days: float = 1.0
    seed: int = 0
    start_time: str = "2026-07-06T00:00:00"
    sales_log: str = ""
    containers_per_day: float = 0.0
    policy: str = "learned"
    real_time_factor: float = 0.0  # 0: as fast as the machine allows
    camera_period_s: float = 30.0
    initial_fill: float = 1.0
    faults_per_hour: float = 0.0  # physical faults: a stock container nudged, a lane's back one tipped
    events_per_hour: float = 0.1
    mixups_per_hour: float = 0.0  # stock mix-ups (another SKU at a back-room location's front)
    wrist_camera: bool = True  # the arm looks at the lane's back and at the held container
    operator: bool = True
    operator_delay_s: float = 60.0
    chaos: bool = False
    lockstep: bool = True  # the sim waits for the controllers each step (restock.graph.lockstep)
    live: bool = False
    # The fleet (restock sim --fleet): the teleop bridge links out to this fleet service.
    fleet_url: str = ""
    fleet_credential_file: str = ""
    fleet_ca_file: str = ""
    out_dir: Path = field(default_factory=lambda: Path("var/runs") / time.strftime("%Y%m%d-%H%M%S"))
    verbose: bool = False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SIM_STATE = "sim_state.db"  # the simulator's checkpoints (a killed sim resumes the store)


def node_params(
    opts: DayOptions, run_dir: Path, operator: OperatorSetup | None, store: Store
) -> dict[str, dict[str, object]]:
    """Per-node parameters of a store day (the graph's files give the rest)."""
    sim: dict[str, object] = {
        "seed": opts.seed,
        "start_time": opts.start_time,
        "real_time_factor": opts.real_time_factor,
        "camera_rate_hz": 1.0 / opts.camera_period_s,
        "initial_fill": opts.initial_fill,
        "faults_per_hour": opts.faults_per_hour,
        "random_events_per_hour": opts.events_per_hour,
        "mixups_per_hour": opts.mixups_per_hour,
        # Enough for the arm's feedback watchdog; more only loads every listener at 100x real time.
        "joint_state_rate_hz": 10.0,
        # At rest and uncommanded the joints do not change: 1 Hz (the arm's watchdog allows 3 s)
        # spares every node most of the /clock and joint_states traffic of the idle hours.
        "idle_joint_state_rate_hz": 1.0,
        "ground_truth_period_s": 10.0,
        "state_path": str(run_dir / SIM_STATE),
    }
    if opts.sales_log:
        sim.update(customers="sales_log", sales_log=str(Path(opts.sales_log).resolve()))
    elif opts.containers_per_day > 0:
        sim["containers_per_day"] = opts.containers_per_day
    teleop: dict[str, object] = {"state_dir": str(run_dir / "teleop"), "port": 0}  # 0: any free port
    if operator is not None:
        teleop.update(port=operator.port, operators_file=str(operator.operators_file))
    if opts.fleet_url:
        # Status every wall second: the fleet's operators read the store's sim time from it.
        teleop.update(fleet_url=[opts.fleet_url], fleet_credential_file=opts.fleet_credential_file,
                      fleet_ca_file=opts.fleet_ca_file, fleet_status_period_s=1.0)  # fmt: skip
    params: dict[str, dict[str, object]] = {
        "sim": sim,
        "planner": {"database_path": str(run_dir / "planner.db"), "policy": opts.policy},
        # At 100x real time 0.5 sim-s is 5 wall-ms: the watchdog keeps its meaning at 3 sim-s.
        "arm_controller": {
            "state_dir": str(run_dir / "arm_controller"),
            "joint_states_timeout_s": 3.0,
            # The arm moves at the sim's active cap (20x): 100 Hz of sim time would be 2,000 Hz of
            # wall time, which the timer cannot keep; joint_states come at 10 Hz anyway.
            "control_rate_hz": 20.0,
            # A few wall-ms of delivery are a few tenths of a sim second at 20x: stamp trajectories
            # that far ahead and let the feedback trail by as much before calling the arm blocked.
            "trajectory_start_delay_s": 0.2,
            "tracking_lag_allowance_s": 0.5,
            # The sim may run many sim-s before it reads a trajectory (catching up after a slow
            # camera frame, or racing once its active_hold_s ran out): an arm still at the start is
            # not blocked until the trajectory is this old in sim time and in wall time.
            "start_allowance_s": 3.0,
            "start_allowance_wall_s": 1.0,
            # The sim races when nothing was commanded for its active_hold_s: before a step, the arm
            # waits (sending it a hold) until it runs at its 20x cap again.
            "wake_above_rate": 30.0,
            "wrist_camera": opts.wrist_camera,
        },
        "teleop_bridge": teleop,
        # A store day is the store's first: the SKU looks operators confirm are this run's own.
        "shelf_camera": {"appearance_path": str(run_dir / "appearance.sqlite")},
        # A run of several days: one file per calendar day (restock.partN.mcap, the last restock.mcap).
        "recorder": {
            "output_path": str(run_dir / "restock.mcap"),
            "live_server": opts.live,
            "split_period_s": 86_400.0 if opts.days > 1 else 0.0,
        },
    }
    if opts.lockstep:
        lockstep_params(params, store, operator is not None)
    return params


def lockstep_params(params: dict[str, dict[str, object]], store: Store, with_operator: bool) -> None:
    """The autonomous loop in lockstep: the simulator waits for the cameras, the planner and the
    arm each step, so no wall-clock allowance is needed and a seed gives the same day on any load.
    The scripted operator takes part from the day monitor; the teleop bridge does not (what it
    publishes for the operator is counted as the operator's)."""
    cameras = [f"shelf_camera_{c.id}" for c in store.cameras]
    nodes = ["planner", "arm_controller", *cameras]
    operator = [OPERATOR_PARTICIPANT] if with_operator else []  # the day monitor's (restock.day.operator_clock)
    params["sim"].update(lockstep=True, lockstep_participants=nodes + operator)
    for name in nodes:
        params.setdefault(name, {})["lockstep"] = True
    # Sync points come at least every 5 sim-s (restock.sim.pacing.MAX_FAST_STEP_S), each with joint_states.
    # Nothing races ahead: a trajectory starts when it is sent.
    params["arm_controller"].update(
        wake_above_rate=0.0, start_allowance_wall_s=0.0, joint_states_timeout_s=10.0, trajectory_start_delay_s=0.0
    )


def _then(first: callable, second: callable) -> callable:  # type: ignore[valid-type]
    def both(record: object) -> None:
        first(record)  # type: ignore[operator]
        second(record)  # type: ignore[operator]

    return both


class DayMonitor:
    """Listens to the graph's records in this process, feeds DayStats, shows progress, ends the day."""

    def __init__(
        self,
        stats: DayStats,
        end_after_s: float,
        on_done: callable,  # type: ignore[valid-type]
        label: str,
        lockstep_operator: bool = False,
    ) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        from restock.day.operator_clock import OperatorClock
        from restock.nodes.base import ACK_QOS, LATCHED_EVERY_QOS, RECORD_QOS

        self.stats = stats
        self.end_after_s = end_after_s
        self.on_done = on_done
        self.label = label
        self.sim_time = 0.0
        self.done = threading.Event()
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self.node = rclpy.create_node("restock_day_monitor", context=self._context)
        on_truth, on_handoff = self._on_truth, stats.on_handoff
        on_resolution, on_teleop = stats.on_resolution, lambda st: stats.on_teleop(st, self.sim_time)
        # Lockstep: the scripted operator is a participant on this node (restock.day.operator_clock).
        self.operator_clock = OperatorClock(self.node, ACK_QOS) if lockstep_operator else None
        if (clock := self.operator_clock) is not None:
            on_truth = clock.counted(topics.SIM_GROUND_TRUTH, on_truth)
            on_handoff = clock.counted(topics.HANDOFF_REQUESTS, on_handoff)
            on_resolution = _then(on_resolution, clock.seen)
            on_teleop = _then(on_teleop, clock.seen)
        feeds = (
            (topics.SIM_GROUND_TRUTH, records.SimGroundTruth, on_truth, RECORD_QOS),
            (topics.RESTOCK_TASKS, records.RestockTask, stats.on_task, RECORD_QOS),
            (topics.TASK_RESULTS, records.TaskResult, stats.on_result, RECORD_QOS),
            (topics.HANDOFF_REQUESTS, records.HandoffRequest, on_handoff, RECORD_QOS),
            (topics.HANDOFF_RESOLUTIONS, records.HandoffResolution, on_resolution, RECORD_QOS),
            (topics.TELEOP_STATUS, records.TeleopStatus, on_teleop, LATCHED_EVERY_QOS),
        )
        for topic, record_type, callback, qos in feeds:
            self.node.create_subscription(String, topic, self._decoder(record_type, callback), qos)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._wall_start = time.monotonic()
        self._last_print = 0.0
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _decoder(self, record_type: type, callback: callable):  # type: ignore[valid-type]
        def on_msg(msg: object) -> None:
            try:
                record = records.decode(msg.data, record_type)  # type: ignore[attr-defined]
            except records.RecordError as err:
                self.node.get_logger().warning(f"dropped a malformed {record_type.KIND}: {err}")
                return
            callback(record)

        return on_msg

    def _on_truth(self, truth: records.SimGroundTruth) -> None:
        self.stats.on_truth(truth)
        self.sim_time = truth.stamp
        if self.stats.duration_s >= self.end_after_s and not self.done.is_set():
            self.done.set()
            self.on_done()
        now = time.monotonic()
        if now - self._last_print >= (1.0 if sys.stderr.isatty() else 30.0):
            self._last_print = now
            self._progress(now)

    def _progress(self, now: float) -> None:
        s = self.stats
        frac = min(1.0, s.duration_s / self.end_after_s) if self.end_after_s else 0.0
        bar = "#" * int(frac * 30) + "." * (30 - int(frac * 30))
        rate = s.duration_s / max(1e-6, now - self._wall_start)
        clock = time.strftime("%a %H:%M", time.gmtime(self.sim_time))
        sys.stderr.write(
            ("\r" if sys.stderr.isatty() else "\n")
            + f"[{self.label}] {clock} [{bar}] {frac:5.1%}  sales {sum(s.sales.values())}  "
            f"lost {sum(s.lost_sales.values())}  moved {s.containers_moved}  OSA {s.on_shelf_availability:.2%}  "
            f"handoffs {len(s.handoffs)}  x{rate:.0f} real time   "
        )
        sys.stderr.flush()

    def _spin(self) -> None:
        from restock.nodes.base import ACK_HEARTBEAT_S

        beat = time.monotonic()
        while self._context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.2)
                if self.operator_clock is not None and time.monotonic() - beat > ACK_HEARTBEAT_S:
                    beat = time.monotonic()
                    self.operator_clock.heartbeat()  # a simulator that started later hears it
            except Exception:
                return  # the context was shut down under us

    def close(self) -> None:
        sys.stderr.write("\n")
        self.node.destroy_node()
        self._context.try_shutdown()
        self._thread.join(timeout=2)


def run_day(
    opts: DayOptions, store: Store, store_path: Path, domain_id: int | None, label: str
) -> tuple[int, DayStats]:
    run_dir = opts.out_dir / label
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(SIM_STATE + "*"):  # a new day: the store starts afresh
        stale.unlink()
    operator = OperatorSetup.create(run_dir, free_port(), run_dir / "teleop") if opts.operator else None
    instances = node_instances("sim", store, store_path, extra_params=node_params(opts, run_dir, operator, store))
    apply_to_this_process(domain_id)
    env = ros_environment(domain_id)
    supervisor = Supervisor(instances, env, run_dir / "logs", echo=opts.verbose, out=sys.stderr)
    stats = DayStats(forecaster=planner_forecaster(run_dir / "planner.db", store))
    in_lockstep = opts.lockstep and operator is not None
    monitor = DayMonitor(stats, opts.days * DAY_S, supervisor.request_stop, label, lockstep_operator=in_lockstep)
    helpers: list = []
    if operator is not None:
        log = run_dir / "operator.log"
        helpers.append(
            start_scripted_operator(operator, monitor, opts.operator_delay_s, log, clock=monitor.operator_clock)
        )
    chaos = None
    if opts.chaos:
        from restock.day.chaos import Chaos

        chaos = Chaos(supervisor, monitor, opts.seed, opts.days * DAY_S, run_dir / "chaos.log")
        helpers.append(chaos)
    memory = MemorySampler(
        lambda: {n.instance.name: n.proc.pid for n in supervisor.nodes if n.proc is not None},
        lambda: stats.duration_s,
        run_dir / "memory.csv",
    )
    helpers.append(memory)
    try:
        status = supervisor.run()
    finally:
        for helper in helpers:
            if helper is not None:
                helper.stop()
        monitor.close()
    stats.extra.update(memory.summary(stats.duration_s))
    stats.extra.update(planner_books(run_dir / "planner.db", stats, parse_time(opts.start_time)))
    if chaos is not None:
        stats.extra["chaos injected"] = chaos.counts()
    if not monitor.done.is_set():
        print(f"restock sim: the {label} run ended before its {opts.days:g} day(s) were over", file=sys.stderr)
        status = status or 1
    return status, stats


def planner_forecaster(path: Path, store: Store) -> Forecaster:
    """The demand forecast the planner holds, read from its database when asked (at the start of
    each hour): the history it learned, saved every planner:save_period_s, fitted as the planner
    fits it, summed over SKUs, in containers per forecast step. Before the planner has a database
    it holds its prior; a database that cannot be read gives no forecast for that hour."""
    from collections import Counter

    from restock.demand.model import DemandModel, DemandPrior
    from restock.planning.database import PlannerDb, PlannerDbError
    from restock.planning.lanes import LaneTable

    lanes_per_sku = dict(Counter(LaneTable.from_store(store).lane_sku))

    def forecast(mids: np.ndarray) -> np.ndarray | None:
        model = DemandModel(lanes_per_sku, DemandPrior())  # what RestockPlanner starts from
        if path.exists():
            try:
                db = PlannerDb.read_only(path)
                try:
                    db.load_model(model)
                finally:
                    db.close()
            except (PlannerDbError, sqlite3.Error):
                return None
        return model.rates_matrix(mids).sum(axis=0) * (FORECAST_STEP_S / 3600.0)

    return forecast


def planner_books(path: Path, stats: DayStats, world_start: float) -> dict[str, object]:
    """What the planner's database holds at the end against the ground truth: its tasks by state
    (expired: no result within the task timeout, a lost task) and the sales in its history since
    the world started (the monitor's first ground truth may come after the first sales)."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            states = dict(conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
            t0, t1 = world_start, stats.end or 0.0
            bodies = conn.execute(
                "SELECT body FROM events WHERE kind = 'sale_event' AND stamp >= ? AND stamp <= ?", (t0, t1)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as err:
        return {"planner database": f"unreadable: {err}"}
    sold = 0
    for (body,) in bodies:
        try:
            sold += records.decode(body, records.SaleEvent).quantity
        except records.RecordError:
            continue
    return {
        "planner task states": states,
        "sales in planner history": f"{sold} of {sum(stats.sales.values())} (ground truth)",
    }


def print_table(tables: dict[str, dict[str, object]]) -> None:
    keys = list(dict.fromkeys(k for t in tables.values() for k in t))
    width = max(len(k) for k in keys)
    cols = list(tables)
    colw = [max(len(c), *(len(format_cell(t.get(k))) for k in keys)) for c, t in tables.items()]
    print(f"{'':<{width}}  " + "  ".join(c.ljust(w) for c, w in zip(cols, colw, strict=True)))
    for k in keys:
        print(
            f"{k:<{width}}  "
            + "  ".join(format_cell(tables[c].get(k)).ljust(w) for c, w in zip(cols, colw, strict=True))
        )


def build_parser() -> argparse.ArgumentParser:
    d = DayOptions()
    ap = argparse.ArgumentParser(
        prog="restock sim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", default=d.store, help="store description file or name under config/stores")
    ap.add_argument("--days", type=float, default=d.days, help="store days to simulate (fractions allowed)")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--start", dest="start_time", default=d.start_time, help="sim start, ISO 8601 UTC")
    ap.add_argument("--sales-log", default="", help="replay this CSV sales log (timestamp,sku,quantity) as customers")
    ap.add_argument("--containers-per-day", type=float, default=0.0, help="demand model's daily total (0: its default)")
    ap.add_argument("--compare", action="store_true", help="run the reactive baseline policy on the same day too")
    ap.add_argument(
        "--rtf",
        dest="real_time_factor",
        type=float,
        default=d.real_time_factor,
        help="sim s per wall s (0: as fast as possible)",
    )
    ap.add_argument(
        "--camera-period",
        dest="camera_period_s",
        type=float,
        default=d.camera_period_s,
        help="sim s between camera frames",
    )
    ap.add_argument("--initial-fill", type=float, default=d.initial_fill)
    ap.add_argument(
        "--faults-per-hour", type=float, default=d.faults_per_hour, help="nudged stock, tipped containers (seeded)"
    )
    ap.add_argument(
        "--events-per-hour", type=float, default=d.events_per_hour, help="random unfamiliar items, obstructions, hands"
    )
    ap.add_argument(
        "--mixups-per-hour", type=float, default=d.mixups_per_hour, help="stock mix-ups the wrist camera must catch"
    )
    ap.add_argument(
        "--no-wrist-camera", dest="wrist_camera", action="store_false", help="the arm places without looking"
    )
    ap.add_argument("--no-operator", dest="operator", action="store_false", help="leave handoffs unresolved")
    ap.add_argument(
        "--operator-delay",
        dest="operator_delay_s",
        type=float,
        default=d.operator_delay_s,
        help="scripted operator's response time (sim s)",
    )
    ap.add_argument(
        "--chaos", action="store_true", help="kill nodes, stop a camera, stall nodes, press the e-stop (seeded)"
    )
    ap.add_argument(
        "--no-lockstep",
        dest="lockstep",
        action="store_false",
        help="let the simulator race the controllers (wall-clock allowances; outcomes then depend on the machine's load)",
    )
    ap.add_argument("--live", action="store_true", help="serve a live Foxglove view on 127.0.0.1:8765")
    ap.add_argument(
        "--out", dest="out_dir", type=Path, default=d.out_dir, help="run directory (logs, databases, MCAP, report)"
    )
    ap.add_argument("--domain-id", type=int, default=None)
    fleet = ap.add_argument_group("fleet (restock.day.fleet_day)")
    fleet.add_argument("--fleet", type=int, default=0, metavar="N",
                       help="N stores at once on one fleet service and PostgreSQL, served by scripted fleet operators "
                       "(unless given: 0.02 days from 08:00, x5 real time, 30 events/h, fill 0.7, cameras every 60 s)")  # fmt: skip
    fleet.add_argument("--fleet-operators", type=int, default=2, help="scripted operators of the fleet's pool")
    fleet.add_argument("--fleet-service-s", type=float, default=90.0, help="an operator's mean time a handoff (sim s)")
    fleet.add_argument("--fleet-service-cv", type=float, default=1.0, help="its lognormal coefficient of variation")
    fleet.add_argument("--fleet-url", default="", help="one store day's bridge links out to this fleet service")
    fleet.add_argument("--fleet-credential-file", default="", help="the robot's fleet credential (ROBOT:SECRET)")
    fleet.add_argument("--fleet-ca-file", default="", help="the fleet service's CA certificate")
    ap.add_argument("--verbose", action="store_true", help="echo every node's output")
    return ap


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.fleet:
        from restock.day.fleet_day import run_fleet

        return run_fleet(args)
    pin_mmap_threshold()  # the day monitor runs for days too
    domain_id = args.domain_id
    if domain_id is None:
        domain_id, _lock = claim_domain_id()  # held until this process exits
    fleet_only = ("fleet", "fleet_operators", "fleet_service_s", "fleet_service_cv")
    opts = DayOptions(**{k: v for k, v in vars(args).items() if k not in ("compare", "domain_id", *fleet_only)})
    path = store_file(opts.store)
    try:
        store = load_store(path)
    except (StoreError, ConfigError) as err:
        print(f"restock sim: {err}", file=sys.stderr)
        return 2
    wall = time.monotonic()
    runs = [("learned", "learned")] + ([("reactive", "reactive")] if args.compare else [])
    tables: dict[str, dict[str, object]] = {}
    status = 0
    first_stats: DayStats | None = None
    for label, policy in runs:
        opts.policy = policy
        code, stats = run_day(opts, store, path, domain_id, label)
        status = status or code
        tables[label] = stats.summary()
        first_stats = first_stats or stats
    from restock.day.report import write_report

    assert first_stats is not None
    index = write_report(
        first_stats, opts.out_dir / "report", f"restock sim: {store.name}, {opts.days:g} day(s)", tables
    )
    print(
        f"\nrestock sim: store {store.name!r}, {opts.days:g} day(s), seed {opts.seed}, wall {time.monotonic() - wall:.0f} s, pid {os.getpid()}"
    )
    print_table(tables)
    import json

    from restock.graph.shm import stale_fastdds_files

    # Ours: the files this run's nodes had mapped (the supervisor's shm_seen.json), still there and
    # used by no process. Other stale files (another user's, an older run's) are named apart.
    seen: set[str] = set()
    for label, _ in runs:
        with contextlib.suppress(OSError, ValueError):
            seen |= set(json.loads((opts.out_dir / label / "logs" / "shm_seen.json").read_text()))
    # The bring-up cleaned up while this process's day monitor still had the shared port segments
    # mapped; it has let go of them now: what is ours and used by no process goes.
    removed = 0
    for path in sorted(stale_fastdds_files()):
        if str(path) in seen:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    stale = sorted(map(str, stale_fastdds_files()))
    ours = [f for f in stale if f in seen]
    print(
        f"Fast DDS files in /dev/shm: removed {removed} stale ones of this run's at the end, {len(ours)} left"
        + (f" ({', '.join(ours[:5])})" if ours else "")
        + (f"; {len(stale) - len(ours)} stale ones of other processes left alone" if len(stale) > len(ours) else "")
    )
    from restock.recording.recover import earlier_segments, recover_segments

    for label, _ in runs:
        for part, n in recover_segments(opts.out_dir / label / "restock.mcap"):
            print(f"recording of a killed recorder made whole: {part} ({n} messages)")
    recording = opts.out_dir / "learned" / "restock.mcap"
    print(f"report: {index}\nrecording: {recording}")
    if earlier := earlier_segments(recording):
        print(f"  after {len(earlier)} earlier files: " + ", ".join(p.name for p in earlier))
    return status
