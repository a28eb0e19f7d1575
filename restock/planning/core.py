"""The planner node's logic without ROS: inputs in, tasks out, everything that matters persisted.

:class:`RestockPlanner` holds the demand model, the lane estimates, the planner and the
database, and is driven by the caller's clock (sim time in the simulator): ``step(now)``
advances the estimates, re-plans, and returns the tasks to publish. At most
``max_outstanding`` tasks are out at a time (the arm does one after the other; the rest of the
plan stays revisable). A task's id is reserved in the database before it is handed out.

Bad input (unknown SKU or lane, negative quantity, a timestamp in the future or before the
last one) raises :class:`PlannerInputError` and changes nothing. A database failure raises
:class:`~restock.planning.database.PlannerDbError` from the call that needed it; the planner keeps
its last good plan, issues no new task until the database works again (a task id must be
durable before it is used), and keeps unsaved journal entries to write later.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restock import records
from restock.demand.model import DemandModel, DemandPrior
from restock.demand.prior import FleetPrior
from restock.demand.saleslog import read_sales_log
from restock.planning.backroom import AlertChange, AlertConfig, BackroomWatch, alert_record, forecast, next_delivery
from restock.planning.database import PlannerDb, PlannerDbError
from restock.planning.lanes import LaneEstimator
from restock.planning.planner import LaneTable, PlannedTask, Planner, PlannerConfig
from restock.planning.policies import reactive_lanes
from restock.planning.timing import RobotTiming
from restock.store.description import Store

FUTURE_TOLERANCE_S = 5.0  # clocks of different nodes differ a little
ORDER_TOLERANCE_S = 60.0  # a POS sale may arrive a little after a later one
RECEIPT_MEMORY_S = 2 * 86_400.0  # receipt numbers reloaded at a restart: sales this recent
MAX_RECEIPTS = 20_000  # receipt numbers kept (far more than a replayed history holds)


class PlannerInputError(ValueError):
    """An input the planner refuses; the message says what was wrong. Nothing was changed."""


@dataclass(frozen=True)
class CoreConfig:
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    handling_s: float = 12.0
    setup_s: float = 3.0
    max_outstanding: int = 1
    task_timeout_s: float = 1800.0
    refit_period_s: float = 600.0
    save_period_s: float = 60.0
    learn_from_inferred: bool = True  # learn from lanes seen empty when no POS feed is heard
    retry_backoff_s: float = 300.0  # a lane whose task failed or was rejected waits this long
    # An outstanding task is sent again this often: a task or result lost while the arm or the
    # planner was down (or a message dropped) is then delivered, or answered from the arm's store.
    resend_period_s: float = 120.0
    # "learned": minimise expected lost sales; "reactive": the baseline that refills the emptiest
    # lane once its estimate falls to reactive_threshold of capacity (restock sim --compare).
    policy: str = "learned"
    reactive_threshold: float = 0.25
    alerts: AlertConfig | None = field(default_factory=AlertConfig)  # None: no back-room alerts


@dataclass
class Outstanding:
    task: records.RestockTask
    issued: float
    sent: float | None = None  # last published (None: not since this process started)


class RestockPlanner:
    def __init__(self, store: Store, db: PlannerDb | None, config: CoreConfig | None = None, now: float = 0.0) -> None:
        self.store = store
        self.config = config or CoreConfig()
        self.lanes = LaneTable.from_store(store)
        self.timing = RobotTiming.for_store(store, self.config.handling_s, self.config.setup_s)
        self.planner = Planner(self.lanes, self.timing, self.config.planner)
        lanes_per_sku: dict[str, int] = {}
        for s in self.lanes.lane_sku:
            lanes_per_sku[s] = lanes_per_sku.get(s, 0) + 1
        self.model = DemandModel(lanes_per_sku, DemandPrior())
        self.estimator = LaneEstimator(self.lanes, now)
        self.stock = self._stock_from_store()
        self.stock_capacity = np.array(
            [sum(loc.capacity for loc in store.stock_for_sku(s)) for s in self.lanes.skus], dtype=np.int64
        )
        self.stock_stamp: float | None = None  # when the stored back-room counts were saved (restart)
        self.watch = BackroomWatch(len(self.lanes.skus), self.config.alerts or AlertConfig())
        self.alert_changes: list[records.BackroomAlert] = []  # for the caller to publish
        self.outstanding: dict[str, Outstanding] = {}
        self.handoff_lanes: dict[str, str] = {}  # lane id -> request id
        self.backoff_until: dict[str, float] = {}  # lane id -> no new task before this time
        self.plan: list[PlannedTask] = []
        self.plan_stamp = 0.0
        self.last_sale_t = -math.inf
        self.last_step_t: float | None = None
        self.pos_seen = False
        self.receipts: set[int] = set()  # the till's receipt numbers of the sales counted (recent)
        self._last_fit = -math.inf
        self._last_save = -math.inf
        self._unsaved: list[tuple[float, str, str]] = []
        self._pending_db: list[tuple[str, tuple[object, ...]]] = []
        self.db = db
        self._restored_lanes = False
        self.clock_reset = False
        if db is not None:
            self._restore(db)

    # --- persistence ------------------------------------------------------------------------

    def _restore(self, db: PlannerDb) -> None:
        db.load_model(self.model)
        for lane_id, (mean, var, stamp) in db.load_lanes().items():
            if lane_id in self.lanes.index:
                self.estimator.restore(self.lanes.index[lane_id], mean, var)
                self.estimator.stamp = stamp
                self._restored_lanes = True
        for stored in db.open_tasks():
            self.outstanding[stored.task.task_id] = Outstanding(stored.task, stored.issued)
        self.handoff_lanes = db.handoffs()
        for sku, (quantity, stamp) in db.load_backroom().items():
            if sku in self.lanes.skus:
                self.stock[self.lanes.skus.index(sku)] = quantity
                self.stock_stamp = stamp
        self.pos_seen = db.get_meta("pos_seen") == "1"
        if self.model.last_t > 0:
            self.last_sale_t = self.model.last_t
        for _, _, body in db.events(records.SaleEvent.KIND, since=self.last_sale_t - RECEIPT_MEMORY_S):
            seq = json.loads(body).get("seq")
            if seq is not None:
                self.receipts.add(int(seq))

    def _db_call(self, method: str, *args: object) -> None:
        """A database write that must not be lost: kept and retried by :meth:`save` if it fails."""
        self._pending_db.append((method, args))
        self.flush_pending()

    def flush_pending(self) -> None:
        if self.db is None:
            return
        while self._pending_db:
            method, args = self._pending_db[0]
            getattr(self.db, method)(*args)  # raises PlannerDbError: stays queued
            self._pending_db.pop(0)

    def save(self, now: float) -> None:
        """Write pending changes, the learned model, the lane estimates and the journal."""
        if self.db is None:
            return
        self.flush_pending()
        lanes = [
            (lid, float(self.estimator.mean[i]), float(self.estimator.var[i]), now)
            for i, lid in enumerate(self.lanes.lane_ids)
        ]
        self.db.save_state(self._unsaved, lanes, self.model, now, self._backroom_rows(now))
        self._unsaved.clear()
        self._last_save = now

    def import_sales_log(self, path: str) -> int:
        """Learn from a historical sales log (full exposure over its days); returns the sales learned.

        A log already imported into this database (same file, size and modification time) is
        skipped, so a restart does not count its sales twice.
        """
        events = read_sales_log(path, self.store)
        if not events:
            return 0
        st = Path(path).stat()
        key = f"imported_log:{Path(path).resolve()}:{st.st_size}:{int(st.st_mtime)}"
        if self.db is not None and self.db.get_meta(key) is not None:
            return 0
        self.model.learn_log(((e.stamp, e.sku, e.quantity) for e in events), events[-1].stamp)
        self.model.fit()
        if self.db is not None:
            self.db.save_model(self.model, events[-1].stamp)
            self.db.set_meta(key, str(len(events)))
        return len(events)

    def use_fleet_prior(self, path: str) -> FleetPrior:
        """Start the demand model from a fleet prior (restock.demand.prior: other stores' models):
        what the store has learned itself still counts, the prior only fills in what it has not.
        Raises PriorError naming the file if it cannot be read."""
        prior = FleetPrior.load(Path(path))
        self.model.set_fleet(prior, {sku: spec.kind for sku, spec in self.store.skus.items()})
        return prior

    # --- inputs -----------------------------------------------------------------------------

    def _check_time(self, stamp: float, now: float, what: str) -> None:
        if stamp > now + FUTURE_TOLERANCE_S:
            raise PlannerInputError(f"{what} stamped {stamp:.3f} is in the future (now {now:.3f})")

    def on_sale(self, sale: records.SaleEvent, now: float) -> bool:
        """Count a sale; False (and nothing changed) for one already counted: a till that keeps
        its history replays it to a restarted planner, and the planner hears it on two subscriptions."""
        if sale.seq is not None and sale.seq in self.receipts:
            return False
        self._check_time(sale.stamp, now, "sale")
        if sale.sku not in self.model.lanes_per_sku:
            raise PlannerInputError(f"sale of unknown SKU {sale.sku!r}")
        # A sale with a receipt number is placed by it: the till's history replayed to a restarted
        # planner may arrive after a newer live sale (another subscription), and is no disorder.
        if sale.seq is None and sale.stamp < self.last_sale_t - ORDER_TOLERANCE_S:
            raise PlannerInputError(
                f"sale stamped {sale.stamp:.3f} is older than the last one ({self.last_sale_t:.3f}): out of order"
            )
        lane = None
        if sale.lane_id is not None:
            lane = self.lanes.index.get(sale.lane_id)
            if lane is None:
                raise PlannerInputError(f"sale from unknown lane {sale.lane_id!r}")
        self.model.add_sale(sale.stamp, sale.sku, sale.quantity)
        self.estimator.sold(self.lanes.skus.index(sale.sku), sale.quantity, lane)
        self.last_sale_t = max(self.last_sale_t, sale.stamp)
        if sale.seq is not None:
            self.receipts.add(sale.seq)
            if len(self.receipts) > 2 * MAX_RECEIPTS:
                self.receipts = set(sorted(self.receipts)[-MAX_RECEIPTS:])
        if not self.pos_seen:
            self.pos_seen = True
            self._db_call("set_meta", "pos_seen", "1")
        self._unsaved.append((sale.stamp, sale.KIND, records.encode(sale)))
        return True

    def on_observation(self, obs: records.ShelfObservation, now: float) -> list[str]:
        """Apply a camera's lane fronts; returns warnings for lanes it could not use."""
        self._check_time(obs.stamp, now, "observation")
        warnings = []
        if obs.stale:
            return warnings
        for lane_obs in obs.lanes:
            i = self.lanes.index.get(lane_obs.lane_id)
            if i is None:
                warnings.append(f"unknown lane {lane_obs.lane_id!r} from camera {obs.camera_id}")
                continue
            if lane_obs.unfamiliar or lane_obs.obstruction or lane_obs.hand:
                continue  # what the camera sees is not (only) this lane's SKU: no evidence on the count
            inferred = self.estimator.observe(
                i, lane_obs.state, lane_obs.fill, obs.stamp, redistribute=not self.pos_seen, camera=obs.camera_id
            )
            if inferred is not None and self.config.learn_from_inferred and not self.pos_seen:
                # One lane's share of the SKU's demand, over the time it was stocked.
                share = 1.0 / max(1, self.model.lanes_per_sku.get(inferred.sku, 1))
                self.model.add_sales_spread(inferred.sku, inferred.t0, inferred.t1, inferred.containers)
                self.model.add_exposure(inferred.sku, inferred.t0, inferred.t1, share)
                self._unsaved.append(
                    (
                        obs.stamp,
                        "inferred_sales",
                        json.dumps(
                            {
                                "lane_id": inferred.lane_id,
                                "sku": inferred.sku,
                                "t0": inferred.t0,
                                "t1": inferred.t1,
                                "containers": inferred.containers,
                            }
                        ),
                    )
                )
        return warnings

    def on_result(self, result: records.TaskResult, now: float) -> bool:
        """Apply a task's result; False for a result of a task already closed (the arm answers a
        task sent again with its stored result: nothing to do twice)."""
        self._check_time(result.finished, now, "task result")
        if result.finished < result.started:
            raise PlannerInputError(f"task result {result.task_id} finished before it started")
        out = self.outstanding.get(result.task_id)
        if out is None:
            if self.db is not None and self.db.task_status(result.task_id) not in (None, "issued"):
                return False
            raise PlannerInputError(f"result for unknown or already closed task {result.task_id!r}")
        task = out.task
        if result.lane_id != task.lane_id:
            raise PlannerInputError(
                f"result for task {result.task_id} names lane {result.lane_id}, the task {task.lane_id}"
            )
        if result.placed > task.quantity:
            raise PlannerInputError(f"task {result.task_id} placed {result.placed} of {task.quantity}")
        del self.outstanding[result.task_id]
        self._db_call("close_task", result.task_id, result.outcome, now)
        i = self.lanes.index[task.lane_id]
        self.estimator.restocked(i, result.placed, result.finished)
        p = int(self.lanes.pool[i])
        # Containers picked but not placed go back to the stock location.
        self.stock[p] = max(0, self.stock[p] + task.quantity - result.placed)
        if result.outcome == "done" and result.placed > 0:
            stock_x = (
                self.store.stock_by_id[task.stock_location].x
                if task.stock_location in self.store.stock_by_id
                else float(self.lanes.stock_x[p])
            )
            self.timing.observe_cycle(result.finished - result.started, float(self.lanes.x[i]), stock_x, result.placed)
        if result.outcome in ("failed", "rejected"):
            self.backoff_until[task.lane_id] = now + self.config.retry_backoff_s
        if result.outcome == "parked" and result.handoff_id:
            self.handoff_lanes[task.lane_id] = result.handoff_id
            self._db_call("set_handoff", task.lane_id, result.handoff_id, now)
        self._unsaved.append((result.finished, result.KIND, records.encode(result)))
        return True

    def to_resend(self, now: float) -> list[records.RestockTask]:
        """Outstanding tasks not sent for ``resend_period_s`` (or not since a restart), marked sent now."""
        out = []
        for o in self.outstanding.values():
            if o.sent is None or now - o.sent >= self.config.resend_period_s:
                o.sent = now
                out.append(o.task)
        return out

    def on_handoff_request(self, req: records.HandoffRequest, now: float) -> None:
        if req.lane_id is None:
            return
        if req.lane_id not in self.lanes.index:
            raise PlannerInputError(f"handoff request {req.request_id} for unknown lane {req.lane_id!r}")
        self.handoff_lanes[req.lane_id] = req.request_id
        self._db_call("set_handoff", req.lane_id, req.request_id, now)

    def on_handoff_resolution(self, res: records.HandoffResolution, now: float) -> None:
        lanes = [lane for lane, rid in self.handoff_lanes.items() if rid == res.request_id]
        for lane in lanes:
            del self.handoff_lanes[lane]
        if lanes:
            self._db_call("clear_handoff", res.request_id)

    def _stock_from_store(self) -> np.ndarray:
        """The back room as the store file describes it (a first start)."""
        return np.array(
            [sum(loc.quantity for loc in self.store.stock_for_sku(s)) for s in self.lanes.skus], dtype=np.int64
        )

    def _backroom_rows(self, now: float) -> list[tuple[str, int, float]]:
        return [(sku, int(q), now) for sku, q in zip(self.lanes.skus, self.stock, strict=True)]

    def on_backroom_restock(self, restock: records.BackroomRestock, now: float) -> None:
        """Staff brought stock: the location now holds ``restock.quantity`` (less what tasks out
        will still take from it), persisted at once."""
        self._check_time(restock.stamp, now, "back-room restock")
        if restock.sku not in self.lanes.skus:
            raise PlannerInputError(f"back-room restock of unknown SKU {restock.sku!r}")
        p = self.lanes.skus.index(restock.sku)
        taking = sum(o.task.quantity for o in self.outstanding.values() if o.task.sku == restock.sku)
        self.stock[p] = max(0, restock.quantity - taking)
        self._db_call("save_backroom", self._backroom_rows(now))
        if restock.alert_id is not None:
            change = self.watch.answered(p, restock.alert_id)
            if change is not None:
                self._publish_alert(change, now)

    def _refill_crossed(self, t0: float, t1: float) -> bool:
        """Whether staff refilled the back room (the store's refill schedule) in (t0, t1]."""
        return t1 > t0 and next_delivery(self.store.stock.refill, t0) <= t1

    def _watch_backroom(self, now: float) -> None:
        """Forecast the back room until the next delivery; alerts raised or cleared go out."""
        if self.config.alerts is None or self.config.policy != "learned":
            return
        fc = forecast(
            now,
            self.rates,
            self.stock,
            self.estimator.pool_counts(),
            self.lanes.pool_capacity,
            next_delivery(self.store.stock.refill, now),
            self.config.alerts.step_s,
            self.model.burst.fit.dispersion,
        )
        for change in self.watch.update(fc):
            self._publish_alert(change, now)

    def _publish_alert(self, change: AlertChange, now: float) -> None:
        alert = alert_record(self.lanes.skus[change.pool], change)
        self.alert_changes.append(alert)
        self._unsaved.append((now, alert.KIND, records.encode(alert)))  # journalled: the day report lists them

    # --- planning ---------------------------------------------------------------------------

    def rates(self, t: np.ndarray) -> np.ndarray:
        return self.model.rates_matrix(t, self.lanes.skus)

    def step(self, now: float) -> list[records.RestockTask]:
        """Advance to ``now``, re-plan, and return the new tasks to publish (already persisted)."""
        if self.last_step_t is not None and now < self.last_step_t:
            raise PlannerInputError(f"time went backwards: {now:.3f} after {self.last_step_t:.3f}")
        if self.last_step_t is None:
            self.estimator.stamp = max(self.estimator.stamp, now) if self._restored_lanes else now
            self.clock_reset = self._restart_clock(now)
            if self.stock_stamp is not None and self.stock_stamp > now + FUTURE_TOLERANCE_S:
                self.stock = self._stock_from_store()  # another run's counts (a new simulation)
            elif self.stock_stamp is not None and self._refill_crossed(self.stock_stamp, now):
                self.stock = self.stock_capacity.copy()  # a delivery came while the planner was down
        last = self.last_step_t if self.last_step_t is not None else now
        if self.pos_seen:
            # With a POS feed, every sale is counted: exposure is the time a SKU was on the shelf.
            available = self.estimator.pool_counts() >= 0.5
            self.model.add_exposure_all(last, now, [s for s, a in zip(self.lanes.skus, available, strict=True) if a])
        if self.pos_seen:
            # Every sale comes from the till with its lane (on_sale takes it out): depleting the
            # lanes by the forecast as well would count each sale twice and the estimates would run
            # low, so the arm would be sent to load lanes that are full.
            self.estimator.predict(now, np.zeros(len(self.lanes.skus)))
        else:
            self.estimator.predict(now, self.rates(np.array([now]))[:, 0])
        if self._refill_crossed(last, now):
            self.stock = self.stock_capacity.copy()
        self.last_step_t = now
        self._expire(now)
        if now - self._last_fit >= self.config.refit_period_s:
            self.model.fit()
            self._last_fit = now
        self._replan(now)
        self._watch_backroom(now)
        issued = self._issue(now)
        if self.db is not None and now - self._last_save >= self.config.save_period_s:
            self.save(now)
        return issued

    def _restart_clock(self, now: float) -> bool:
        """At the first step: if the stored state is from a later time (a new simulation run on
        an old database), pending tasks from that time are closed and sale order starts afresh;
        the learned model is kept. Returns whether that happened."""
        later = [tid for tid, o in self.outstanding.items() if o.issued > now + FUTURE_TOLERANCE_S]
        stale_sales = self.last_sale_t > now + FUTURE_TOLERANCE_S
        for task_id in later:
            del self.outstanding[task_id]
            self._db_call("close_task", task_id, "expired", now)
        if stale_sales:
            self.last_sale_t = -math.inf
            self.receipts.clear()  # another till's day: its receipt numbers start afresh
        if self.estimator.stamp > now + FUTURE_TOLERANCE_S:
            self.estimator.stamp = now
        return bool(later) or stale_sales

    def _expire(self, now: float) -> None:
        for task_id, out in list(self.outstanding.items()):
            if now - out.issued > self.config.task_timeout_s:
                del self.outstanding[task_id]
                self._db_call("close_task", task_id, "expired", now)

    def _replan(self, now: float) -> None:
        n = len(self.lanes)
        blocked = np.zeros(n, dtype=bool)
        pending = np.zeros(n, dtype=np.int64)
        for out in self.outstanding.values():
            i = self.lanes.index[out.task.lane_id]
            blocked[i] = True
            pending[i] += out.task.quantity
        for lane_id in self.handoff_lanes:
            if lane_id in self.lanes.index:
                blocked[self.lanes.index[lane_id]] = True
        for lane_id, until in list(self.backoff_until.items()):
            if until > now:
                blocked[self.lanes.index[lane_id]] = True
            else:
                del self.backoff_until[lane_id]
        committed = sum(
            self.timing.task_s(
                float(self.lanes.x[self.lanes.index[o.task.lane_id]]),
                float(self.lanes.stock_x[self.lanes.pool[self.lanes.index[o.task.lane_id]]]),
                o.task.quantity,
            )
            for o in self.outstanding.values()
        )
        if self.config.policy == "reactive":
            self.plan = self._reactive_plan(now, blocked)
        else:
            self.plan = self.planner.plan(
                now,
                self.estimator.mean,
                self.rates,
                self.stock,
                blocked,
                pending,
                committed,
                np.sqrt(self.estimator.var),
                self.model.burst.fit.dispersion,
            )
        self.plan_stamp = now

    def _reactive_plan(self, now: float, blocked: np.ndarray) -> list[PlannedTask]:
        """The baseline: lanes at or below the threshold, emptiest first, filled up from stock."""
        lt = self.lanes
        count = np.round(self.estimator.mean).astype(np.int64)
        out = []
        for i in reactive_lanes(count, lt.capacity, self.stock[lt.pool], self.config.reactive_threshold, blocked):
            qty = int(min(lt.capacity[i] - count[i], self.stock[lt.pool[i]]))
            pool = int(lt.pool[i])
            duration = self.timing.task_s(float(lt.x[i]), float(lt.stock_x[pool]), qty)
            out.append(
                PlannedTask(
                    int(i), lt.lane_ids[i], lt.lane_sku[i], qty, lt.stock_id[pool], float("inf"), 0.0, duration, 0.0
                )
            )
        return out

    def _issue(self, now: float) -> list[records.RestockTask]:
        issued: list[records.RestockTask] = []
        if self.db is None:
            return issued
        self.flush_pending()  # a task id must be durable before use: no issuing while writes fail
        busy = {o.task.lane_id for o in self.outstanding.values()}
        for planned in self.plan:
            if len(self.outstanding) >= self.config.max_outstanding:
                break
            if planned.lane_id in busy:
                continue
            seq = self.db.reserve_task_seq()
            task = self.to_record(planned, f"task-{seq:07d}", now)
            self.db.record_issued(seq, task, now)
            self.outstanding[task.task_id] = Outstanding(task, now, sent=now)
            self.stock[self.lanes.pool[planned.lane_index]] -= planned.quantity
            busy.add(planned.lane_id)
            issued.append(task)
        if issued:
            self.plan = [p for p in self.plan if p.lane_id not in {t.lane_id for t in issued}]
        return issued

    def to_record(self, planned: PlannedTask, task_id: str, now: float) -> records.RestockTask:
        return records.RestockTask(
            task_id=task_id,
            lane_id=planned.lane_id,
            sku=planned.sku,
            quantity=max(1, min(64, planned.quantity)),
            stock_location=planned.stock_id,
            priority=round(planned.priority, 4),
            created=now,
            due=planned.due if math.isfinite(planned.due) and planned.due >= 0 else None,
        )

    def snapshot(self, now: float) -> records.PlanSnapshot:
        """Outstanding tasks (their real ids) then the planned ones (ids ``plan-N``: not issued)."""
        tasks = [o.task for o in self.outstanding.values()]
        tasks += [self.to_record(p, f"plan-{k + 1}", self.plan_stamp) for k, p in enumerate(self.plan)]
        return records.PlanSnapshot(stamp=now, tasks=tasks, waiting_for_operator=sorted(self.handoff_lanes))


__all__ = ["CoreConfig", "PlannerDbError", "PlannerInputError", "RestockPlanner"]
