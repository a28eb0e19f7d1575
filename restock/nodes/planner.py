"""The planner node: shelf state and sales history in, ordered restock tasks out.

Subscribes: shelf/observations, arm_controller/results, pos/sales (optional), handoff/requests,
handoff/resolutions, backroom/restocks (staff bringing stock). Publishes: planner/tasks,
planner/markers, planner/backroom_alerts (BackroomAlert, raised/cleared, transient local so a
late joiner such as the operator app gets the recent ones), diagnostics. Serves: planner/get_plan
(std_srvs/Trigger: the message holds the current PlanSnapshot as JSON). Settings: PlannerSettings
(restock.planning.planner_settings), read as ``self.settings``.

All logic is in restock.planning.core (RestockPlanner); this node converts messages, runs the
re-plan timer on the ROS clock (sim time under use_sim_time) and reports health. Bad input is
logged with the reason and dropped; a database failure is reported as an ERROR diagnostic while
the node keeps serving its last good plan and issues no new task until the database works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from restock import records, topics
from restock.demand.prior import PriorError
from restock.nodes.base import ALERT_QOS, ERROR, OK, SALES_HISTORY_QOS, WARN, RestockNode, run_node
from restock.params import param_specs, settings_from
from restock.planning.core import PlannerInputError, RestockPlanner
from restock.planning.database import PlannerDb, PlannerDbError
from restock.planning.planner_settings import PlannerSettings

# Alerts go to staff and the operator app: a late joiner still gets the recent ones.


class PlannerNode(RestockNode):
    NODE_NAME = "planner"
    PARAMS = param_specs(PlannerSettings)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        s = self.settings = settings_from(PlannerSettings, self.p)
        config = s.core()
        self.db_error: str | None = None
        db = self._open_db(s.database_path)
        try:
            self.core = RestockPlanner(self.store, db, config)
        except PlannerDbError as err:  # the file opened but its contents cannot be read
            self._db_failed(err)
            self.core = RestockPlanner(self.store, None, config)
        if s.fleet_prior:
            try:
                prior = self.core.use_fleet_prior(s.fleet_prior)
                self.get_logger().info(f"demand model starts from the fleet prior of {len(prior.sources)} store(s)")
            except PriorError as err:
                self.get_logger().error(f"fleet prior not used: {err}")
        if s.sales_log:
            try:
                n = self.core.import_sales_log(s.sales_log)
                self.get_logger().info(f"learned from {n} sales in {s.sales_log}")
            except (ValueError, OSError, PlannerDbError) as err:
                self.get_logger().error(f"sales log not imported: {err}")
        restored = len(self.core.outstanding)
        if restored:
            self.get_logger().info(f"restored {restored} pending task(s) from the database")
        self.publish_task = self.create_record_publisher(topics.RESTOCK_TASKS)
        self.marker_pub = self.create_publisher(MarkerArray, topics.PLAN_MARKERS, 2)
        self.publish_alert = self.create_record_publisher(topics.BACKROOM_ALERTS, ALERT_QOS)
        self.create_record_subscription(records.BackroomRestock, topics.BACKROOM_RESTOCKS, self.on_backroom_restock)
        self.create_record_subscription(records.ShelfObservation, topics.SHELF_OBSERVATIONS, self.on_observation)
        self.create_record_subscription(records.TaskResult, topics.TASK_RESULTS, self.on_result)
        # Twice: a till that keeps its history (TRANSIENT_LOCAL, the simulator's) replays the sales
        # missed while this node was down; one that does not is heard all the same. A sale heard
        # on both is counted once (by its receipt number).
        self.create_record_subscription(records.SaleEvent, topics.SALES, self.on_sale)
        self.create_record_subscription(records.SaleEvent, topics.SALES, self.on_sale, SALES_HISTORY_QOS)
        self.create_record_subscription(records.HandoffRequest, topics.HANDOFF_REQUESTS, self.on_handoff_request)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, self.on_resolution)
        self.create_service(Trigger, topics.PLAN_SERVICE, self.on_get_plan)
        self.create_sim_timer(s.replan_period_s, self.tick)
        self._dirty = False
        self._early_sales: list[records.SaleEvent] = []
        self._update_health("waiting for the clock")

    # --- database -------------------------------------------------------------------------

    def _open_db(self, path: str) -> PlannerDb | None:
        if not path:
            self._db_failed(PlannerDbError("database_path is empty: nothing is persisted"))
            return None
        try:
            return PlannerDb(Path(path).expanduser())
        except PlannerDbError as err:
            self._db_failed(err)
            return None

    def _db_failed(self, err: Exception) -> None:
        if str(err) != self.db_error:
            self.get_logger().error(f"planner database: {err}")
        self.db_error = str(err)

    def _update_health(self, message: str | None = None) -> None:
        core = self.core
        values = {
            "outstanding": len(core.outstanding),
            "planned": len(core.plan),
            "waiting_for_operator": len(core.handoff_lanes),
            "handling_s": f"{core.timing.handling_s:.1f}",
            "backroom_alerts": len(core.watch.active),
            **{f"back_room.{sku}": int(q) for sku, q in zip(core.lanes.skus, core.stock, strict=True)},
        }
        if self.db_error is not None:
            self.set_health(ERROR, f"database unusable, serving the last plan, no new tasks: {self.db_error}", **values)
        elif message is not None:
            self.set_health(WARN, message, **values)
        else:
            self.set_health(OK, f"{len(core.outstanding)} task(s) out, {len(core.plan)} planned", **values)

    # --- inputs ---------------------------------------------------------------------------

    def _apply(self, what: str, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args, self.now_s())
            self._dirty = True
        except PlannerInputError as err:  # counted, logged once per kind per period (pos/sales is external)
            self.drop(f"dropped {what}: {err}", f"planner {what.split()[0]}: {str(err)[:40]}")
        except PlannerDbError as err:
            # The input was applied in memory and its write is queued: nothing lost.
            self._db_failed(err)
            self._update_health()

    def on_observation(self, obs: records.ShelfObservation) -> None:
        try:
            for warning in self.core.on_observation(obs, self.now_s()):
                self.get_logger().warning(warning, throttle_duration_sec=10.0)
            self._dirty = True
        except PlannerInputError as err:
            self.drop(f"dropped observation: {err}", f"planner observation: {str(err)[:40]}")

    def on_result(self, result: records.TaskResult) -> None:
        self._apply(f"task result {result.task_id}", self.core.on_result, result)
        self.tick()  # the arm is free: hand it the next task now

    def on_sale(self, sale: records.SaleEvent) -> None:
        if self.now_s() <= 0:
            # The till's history replayed before the first /clock: kept until time is known.
            self._early_sales.append(sale)
            return
        self._apply("sale", self.core.on_sale, sale)

    def on_backroom_restock(self, restock: records.BackroomRestock) -> None:
        self._apply(f"back-room restock of {restock.sku}", self.core.on_backroom_restock, restock)
        self.get_logger().info(f"back room: {restock.added} x {restock.sku} brought, {restock.quantity} there now")

    def on_handoff_request(self, req: records.HandoffRequest) -> None:
        self._apply(f"handoff request {req.request_id}", self.core.on_handoff_request, req)

    def on_resolution(self, res: records.HandoffResolution) -> None:
        self._apply(f"handoff resolution {res.request_id}", self.core.on_handoff_resolution, res)

    # --- planning -------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.now_s()
        if now <= 0:
            self._update_health("waiting for the clock (use_sim_time and no /clock yet?)")
            return
        if self.db_error is not None and self.core.db is not None:
            self.db_error = None  # try again: a lock may have gone
        early, self._early_sales = self._early_sales, []
        for sale in early:
            self._apply("sale", self.core.on_sale, sale)
        try:
            tasks = self.core.step(now)
        except PlannerInputError as err:
            self.get_logger().error(f"re-plan skipped: {err}")
            return
        except PlannerDbError as err:
            self._db_failed(err)
            self._update_health()
            self.publish_markers()
            return
        if self.core.clock_reset:
            self.core.clock_reset = False
            self.get_logger().warning(
                "the database holds state from a later time (a new simulation run?): its pending tasks were "
                "closed as expired; the learned demand is kept"
            )
        for alert in self.core.alert_changes:
            self.publish_alert(alert)
            self.get_logger().warning(f"back-room alert {alert.alert_id} {alert.state}: {alert.message}")
        self.core.alert_changes.clear()
        for task in tasks:
            self.publish_task(task)
            self.get_logger().info(f"task {task.task_id}: {task.quantity} x {task.sku} to {task.lane_id}")
        for task in self.core.to_resend(now):
            # The arm ignores a task it has, answers one it finished: a lost task or result is found.
            self.publish_task(task)
        self._update_health()
        self.publish_markers()

    def on_get_plan(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        snapshot = self.core.snapshot(max(self.now_s(), 0.0))
        resp.success = self.db_error is None
        resp.message = records.encode(snapshot)
        return resp

    def publish_markers(self) -> None:
        snapshot = self.core.snapshot(max(self.now_s(), 0.0))
        msg = MarkerArray()
        clear = Marker(action=Marker.DELETEALL)
        clear.header.frame_id = "store"
        msg.markers.append(clear)
        outstanding = {o.task.task_id for o in self.core.outstanding.values()}
        for k, task in enumerate(snapshot.tasks):
            lv = self.store.lane_by_id[task.lane_id]
            x, y, z = lv.loading_point()
            m = Marker(ns="restock_plan", id=k, type=Marker.CYLINDER, action=Marker.ADD)
            m.header.frame_id = "store"
            m.pose.position = Point(x=x, y=y, z=z)
            m.pose.orientation.w = 1.0
            size = 0.02 + 0.01 * task.quantity
            m.scale.x = m.scale.y = size
            m.scale.z = 0.02
            m.color = (
                ColorRGBA(r=1.0, g=0.5, b=0.0, a=0.9)
                if task.task_id in outstanding
                else ColorRGBA(r=0.1, g=0.6, b=1.0, a=0.6)
            )
            m.lifetime = Duration(sec=0)
            msg.markers.append(m)
            label = Marker(ns="restock_plan_order", id=k, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
            label.header.frame_id = "store"
            label.pose.position = Point(x=x, y=y, z=z + 0.08)
            label.pose.orientation.w = 1.0
            label.scale.z = 0.04
            label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
            label.text = f"{k + 1}: {task.quantity}"
            msg.markers.append(label)
        for lane_id in snapshot.waiting_for_operator:
            lv = self.store.lane_by_id.get(lane_id)
            if lv is None:
                continue
            x, y, z = lv.front_point()
            m = Marker(ns="restock_waiting", id=len(msg.markers), type=Marker.SPHERE, action=Marker.ADD)
            m.header.frame_id = "store"
            m.pose.position = Point(x=x, y=y, z=z + 0.12)
            m.pose.orientation.w = 1.0
            m.scale.x = m.scale.y = m.scale.z = 0.05
            m.color = ColorRGBA(r=1.0, g=0.0, b=0.0, a=0.9)
            msg.markers.append(m)
        self.marker_pub.publish(msg)

    def on_shutdown(self) -> None:
        if self.core.db is None:
            return
        try:
            self.core.save(max(self.now_s(), self.core.last_step_t or 0.0))
        except PlannerDbError as err:
            self.get_logger().error(f"could not save at shutdown: {err}")


def main() -> None:
    raise SystemExit(run_node(PlannerNode))


if __name__ == "__main__":
    main()
