"""`restock eval-planner`: compare restock policies on a fast store model, report a table, draw plots.

No ROS and no MuJoCo. The demand is the simulator's own generator (restock.demand.generator) or a
sales log (restock.demand.saleslog). The learned model is trained on ``--history-days`` of
history before the evaluated days (as an imported sales log), then keeps learning online from
the sales the store model serves, with stockouts censoring exposure. Policies, with the same
robot: reactive threshold, fixed round, the learned planner, and the planner with the true rates
(oracle: the generator's rates; with a sales log, foresight: the log's own future sales, window by
window). The learned planner and the oracle also forecast each SKU's back room until the next
delivery and alert staff, who bring stock ``--staff-response-s`` later (restock.planning.backroom);
the row ``learned-noalert`` is the learned planner without alerts, to measure them. Lost sales
are split into robot-limited (the back room had stock) and supply-limited (it had none); tasks
per container moved say how full the trips were. With ``--camera-only``, also the learned planner without a
point-of-sale feed: it keeps its own lane estimates from lane fronts and its own results, and
learns from sales inferred when a lane of known count is next seen empty. The row ``bound`` is
no policy: the fewest lost sales any policy could reach with the same lanes, robot and back room
and the whole demand known in advance (restock.planning.bound, a linear program; staff on call
when alerts are on), so a ratio to it says how much any planner could still gain.

Also reported: the hourly forecast error (MAE and RMSE of containers per SKU-hour) of the learned
model against seasonal naive (the same hour of the same weekday a week before) on the held-out
evaluated days, each day predicted from everything before it.

Example::

    restock eval-planner --store corner_store.yaml --days 7 --out runs/eval-planner
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restock.demand.generator import DemandGenerator
from restock.demand.model import DAY_S, DemandModel
from restock.demand.prior import FleetPrior, PriorError
from restock.demand.saleslog import SalesLogError, read_sales_log
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.bound import Bound, store_bound
from restock.planning.planner import PlannerConfig
from restock.planning.policies import (
    FixedRoundPolicy,
    PlannerPolicy,
    RateSource,
    ReactivePolicy,
    SalesForesight,
    oracle_config,
)
from restock.planning.storemodel import Outcome, SaleIn, StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import Store, StoreError, load_store

# Monday 2026-07-20 00:00 UTC: a summer week (the generator's busiest season).
DEFAULT_START = 1_784_505_600.0


@dataclass
class ForecastScore:
    learned_mae: float
    naive_mae: float
    learned_rmse: float
    naive_rmse: float
    days: int


def lanes_per_sku(store: Store) -> dict[str, int]:
    out: dict[str, int] = {}
    for lv in store.lanes:
        out[lv.lane.sku] = out.get(lv.lane.sku, 0) + 1
    return out


def hourly_matrix(sales: list[SaleIn], skus: list[str], day0: int, n_days: int) -> np.ndarray:
    """Containers per [sku, day, hour] for days day0 .. day0 + n_days - 1."""
    out = np.zeros((len(skus), n_days, 24))
    index = {s: i for i, s in enumerate(skus)}
    for s in sales:
        d = int(s.t // DAY_S) - day0
        if 0 <= d < n_days and s.sku in index:
            out[index[s.sku], d, int((s.t % DAY_S) // 3600)] += s.quantity
    return out


def forecast_score(
    store: Store, history: list[SaleIn], held_out: list[SaleIn], t_start: float, days: int
) -> ForecastScore:
    """Learned vs seasonal naive, hour by hour, on held-out days (each from everything before it)."""
    model = DemandModel(lanes_per_sku(store))
    skus = model.skus
    model.learn_log(((s.t, s.sku, s.quantity) for s in history), t_start)
    day0 = int(t_start // DAY_S)
    actual = hourly_matrix(held_out, skus, day0, days)
    past = hourly_matrix(history, skus, day0 - 7, 7)
    err_l, err_n = [], []
    for d in range(days):
        model.fit()
        hours = (day0 + d) * DAY_S + np.arange(24) * 3600.0
        mids = hours[:, None] + (np.arange(12) + 0.5) * 300.0
        pred = model.rates_matrix(mids.ravel()).reshape(len(skus), 24, 12).mean(axis=2)
        naive = past[:, d] if d < 7 else actual[:, d - 7]
        err_l.append(pred - actual[:, d])
        err_n.append(naive - actual[:, d])
        for si, sku in enumerate(skus):
            for h in range(24):
                if actual[si, d, h]:
                    model.add_sale(hours[h] + 1800.0, sku, int(actual[si, d, h]))
        model.add_exposure_all(hours[0], hours[0] + DAY_S)
    el, en = np.concatenate(err_l), np.concatenate(err_n)
    return ForecastScore(
        float(np.abs(el).mean()),
        float(np.abs(en).mean()),
        float(np.sqrt((el**2).mean())),
        float(np.sqrt((en**2).mean())),
        days,
    )


def run_policies(
    store: Store,
    timing: RobotTiming,
    history: list[SaleIn],
    evaluated: list[SaleIn],
    t0: float,
    t1: float,
    truth: RateSource | None,
    seed: int = 0,
    config: PlannerConfig | None = None,
    camera_only: bool = False,
    alerts: AlertConfig | None = None,
    staff_response_s: float = 1800.0,
    staff_topup: int = 0,
    oracle_name: str = "oracle",
    fleet: FleetPrior | None = None,
) -> tuple[list[Outcome], DemandModel]:
    """``fleet``: also the row ``learned-prior``, the learned planner whose model starts from this
    fleet prior (restock.demand.prior) rather than the generic one."""
    model_store = StoreModel(store, timing, staff_response_s=staff_response_s, staff_topup=staff_topup)

    def trained(prior: FleetPrior | None = None) -> DemandModel:
        model = DemandModel(lanes_per_sku(store))
        if prior is not None:
            model.set_fleet(prior, {sku: spec.kind for sku, spec in store.skus.items()})
        model.learn_log(((s.t, s.sku, s.quantity) for s in history), t0)
        model.fit()
        return model

    model = trained()
    policies: list = [
        ReactivePolicy(),
        FixedRoundPolicy(),
        PlannerPolicy("learned", timing, model_store.lanes, model=model, config=config, alerts=alerts),
    ]
    if fleet is not None:
        policies.append(
            PlannerPolicy(
                "learned-prior", timing, model_store.lanes, model=trained(fleet), config=config, alerts=alerts
            )
        )
    if alerts is not None:
        policies.append(PlannerPolicy("learned-noalert", timing, model_store.lanes, model=trained(), config=config))
    if camera_only:
        cam = PlannerPolicy("learned-cam", timing, model_store.lanes, model=trained(), config=config, camera_only=True)
        policies.append(cam)
    if truth is not None:
        policies.append(
            PlannerPolicy(
                oracle_name,
                timing,
                model_store.lanes,
                truth=truth,
                config=oracle_config(config),
                alerts=alerts,
                dispersion=model.burst.fit.dispersion,  # the learned planner's rules for bursty demand
            )
        )
    outcomes = [
        model_store.run(p, evaluated, t0, t1, seed=seed, pos=not getattr(p, "camera_only", False)) for p in policies
    ]
    return outcomes, model


def read_log(
    path: Path, store: Store, unordered: bool = False, drop_duplicates: bool = False, skip_unknown: bool = False
) -> tuple[list[SaleIn], list[str]]:
    """A real till's log as the replay takes it, and what was done to it. ``unordered``: lines out of
    time order are sorted; ``drop_duplicates``: a line repeating the one before it exactly (same
    time, SKU, quantity and lane: an export written twice) is dropped, though two of one item in a
    basket look the same; ``skip_unknown``: sales of SKUs the store does not sell are left out.
    A SKU spelled another way (case, spaces, hyphens) is read as the store's, with a note.
    Anything else wrong in the file raises SalesLogError naming its line."""
    renamed: dict[str, str] = {}
    unknown: dict[str, int] = {}
    events = read_sales_log(path, store, not unordered, renamed, unknown if skip_unknown else None)
    notes = [f"read SKU {a!r} as {b}" for a, b in sorted(renamed.items())]
    if drop_duplicates:
        kept = [e for k, e in enumerate(events) if k == 0 or e != events[k - 1]]
        if len(kept) < len(events):
            notes.append(f"dropped {len(events) - len(kept)} duplicate lines")
        events = kept
    if unknown:
        notes.append(
            "skipped sales of SKUs the store does not sell: " + ", ".join(f"{k} ({v})" for k, v in unknown.items())
        )
    return [SaleIn(e.stamp, e.sku, e.quantity) for e in events], notes


def format_table(outcomes: list[Outcome], bound: Bound | None = None) -> str:
    """One row per policy; ``bound``: a last row, the fewest lost sales any policy could reach."""
    head = (
        f"{'policy':<15} {'demanded':>9} {'lost':>6} {'lost %':>7} {'robot':>6} {'supply':>6} {'OSA lane':>9} "
        f"{'OSA sku':>8} {'moved':>7} {'tasks':>6} {'tasks/ctr':>9} {'alerts':>6} {'busy h/day':>10}"
    )
    lines = [head, "-" * len(head)]
    for o in outcomes:
        days = o.duration_s / DAY_S
        lines.append(
            f"{o.policy:<15} {o.demanded:>9} {o.lost:>6} {100 * o.lost / max(o.demanded, 1):>6.2f}% "
            f"{o.lost_robot:>6} {o.lost_rack_empty:>6} {o.osa:>9.4f} {o.sku_osa:>8.4f} {o.moved:>7} {o.tasks:>6} "
            f"{o.tasks_per_container:>9.3f} {o.alerts:>6} {o.busy_s / 3600 / days:>10.2f}"
        )
    if bound is not None:
        lost = bound.lost_at_least
        lines.append(
            f"{'bound':<15} {bound.demanded:>9} {lost:>6} {100 * lost / max(bound.demanded, 1):>6.2f}% "
            f"{'-':>6} {'-':>6} {'-':>9} {'-':>8} {round(bound.moved):>7} {'-':>6} {'-':>9} {'-':>6} {'-':>10}"
        )
    return "\n".join(lines)


def format_ratios(outcomes: list[Outcome], bound: Bound | None = None) -> str:
    """The acceptance ratios: learned against reactive and the oracle, alerts against none, tasks;
    with a ``bound``, each policy's lost sales against it."""
    by = {o.policy: o for o in outcomes}
    learned, reactive = by["learned"], by["reactive"]
    lines = [f"learned / reactive lost sales: {learned.lost / max(reactive.lost, 1e-9):.2f} (goal <= 0.5)"]
    if bound is not None:
        best = bound.lost_at_least
        lines.append(
            f"bound: no policy loses fewer than {best} ({bound.lost:.1f} in the LP); "
            + ", ".join(f"{o.policy} {o.lost / best:.2f}x" if best else f"{o.policy} {o.lost}" for o in outcomes)
        )
        if best and 2 * best > reactive.lost:
            lines.append(
                f"  learned <= 0.5x reactive ({reactive.lost / 2:.0f}) is below the bound: no policy can reach it here"
            )
    for name in ("oracle", "foresight"):
        if name in by:
            best = by[name].lost
            ratio = f"{learned.lost / best:.2f}" if best else ("1.00" if not learned.lost else "inf")
            lines.append(f"learned / {name} lost sales: {ratio} (goal <= 1.1; {learned.lost} vs {best} lost)")
    if "learned-prior" in by:
        with_prior = by["learned-prior"].lost
        ratio = f"{with_prior / learned.lost:.2f}" if learned.lost else ("1.00" if not with_prior else "inf")
        lines.append(
            f"lost sales with the fleet prior / without: {ratio} (cold start goal <= 0.7; {with_prior} vs {learned.lost})"
        )
    if "learned-noalert" in by:
        before, after = by["learned-noalert"].lost_rack_empty, learned.lost_rack_empty
        cut = 1.0 - after / before if before else 0.0
        lines.append(
            f"supply-limited lost sales with alerts: {after} vs {before} without ({100 * cut:.0f}% cut, goal >= 80%)"
        )
    ratio = learned.tasks_per_container / max(reactive.tasks_per_container, 1e-9)
    lines.append(
        f"tasks per container moved: learned {learned.tasks_per_container:.3f}, reactive "
        f"{reactive.tasks_per_container:.3f} ({ratio:.2f}x, goal <= 1.2)"
    )
    return "\n".join(lines)


def plot(
    out_dir: Path,
    store: Store,
    outcomes: list[Outcome],
    model: DemandModel,
    truth: DemandGenerator | None,
    t0: float,
    bound: Bound | None = None,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    # Stock on the shelf over the first evaluated day, all SKUs together, per policy.
    fig, ax = plt.subplots(figsize=(9, 4))
    for o in outcomes:
        t = np.array(o.trace.t)
        total = np.array([c.sum() for c in o.trace.pool_count])
        first = t < t0 + DAY_S
        ax.plot((t[first] - t0) / 3600.0, total[first], label=o.policy)
    if bound is not None:
        k = np.arange(bound.slots)
        first = k * bound.slot_s < DAY_S
        ends = (k[first] + 1) * bound.slot_s / 3600.0
        ax.plot(ends, bound.shelf.sum(axis=0)[first], "k--", lw=1, label="bound (LP)")
    ax.set_xlabel("hour of the first evaluated day (UTC)")
    ax.set_ylabel("containers on the shelf")
    ax.set_title(f"{store.name}: shelf stock over the day")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "stock_over_day.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    # Learned vs true rates over the first evaluated week, first four SKUs.
    skus = model.skus[:4]
    t = t0 + np.arange(0, 7 * DAY_S, 600.0)
    fig, axes = plt.subplots(len(skus), 1, figsize=(10, 2.2 * len(skus)), sharex=True)
    for ax, sku in zip(np.atleast_1d(axes), skus, strict=True):
        mean = np.asarray(model.rate(sku, t))
        sd = np.asarray(model.rate_sd(sku, t))
        ax.fill_between((t - t0) / 3600.0, mean - 2 * sd, mean + 2 * sd, alpha=0.3, label="learned ±2 sd")
        ax.plot((t - t0) / 3600.0, mean, label="learned")
        if truth is not None:
            ax.plot((t - t0) / 3600.0, truth.rate(sku, t), "k--", lw=1, label="true")
        ax.set_ylabel(f"{sku}\n/h")
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("hours from the start of the evaluated week")
    fig.tight_layout()
    paths.append(out_dir / "learned_vs_true_rates.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restock eval-planner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="corner_store.yaml", help="store description (name or path)")
    parser.add_argument("--days", type=int, default=7, help="days evaluated (default 7)")
    parser.add_argument(
        "--history-days",
        type=int,
        default=None,
        help="days of history the learned model starts from (generated: default 21; a sales log's: default all "
        "before the evaluated days, else its last N; 0: a new store)",
    )
    parser.add_argument(
        "--fleet-prior",
        type=Path,
        help="also run the learned planner starting from this fleet prior (restock fleet-prior), row learned-prior",
    )
    parser.add_argument("--containers-per-day", type=float, default=750.0, help="average demand of the generator")
    parser.add_argument(
        "--handling-s", type=float, default=60.0, help="robot seconds per container besides rail travel"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=float, default=DEFAULT_START, help="first evaluated day, epoch seconds")
    parser.add_argument(
        "--sales-log", type=Path, help="replay this sales log instead (its last --days days are evaluated)"
    )
    parser.add_argument(
        "--staff-response-s", type=float, default=1800.0, help="staff bring stock this long after an alert"
    )
    parser.add_argument("--staff-topup", type=int, default=0, help="containers staff bring (0: up to capacity)")
    parser.add_argument("--no-alerts", action="store_true", help="no back-room alerts (and no learned-noalert row)")
    parser.add_argument("--unordered", action="store_true", help="accept a log's lines out of time order (sorted)")
    parser.add_argument(
        "--drop-duplicate-lines", action="store_true", help="drop a line that repeats the one before it exactly"
    )
    parser.add_argument("--skip-unknown-skus", action="store_true", help="leave out SKUs the store does not sell")
    parser.add_argument(
        "--bound-slot-s",
        type=float,
        default=300.0,
        help="time slot of the lost-sales bound's LP (shorter: tighter and slower; 0: no bound row)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/eval-planner"), help="where the plots go")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--camera-only",
        action="store_true",
        help="also run the learned planner without a POS feed: own lane estimates, sales inferred from lane fronts",
    )
    return parser


def _echo_command(args: argparse.Namespace) -> None:
    """The command line that reproduces this run, defaults included."""
    print(f"restock eval-planner --store {args.store} --days {args.days}", end="")
    if args.sales_log is None:
        print(f" --history-days {args.history_days} --containers-per-day {args.containers_per_day:g}", end="")
        print(f" --seed {args.seed}", end="")
    else:
        flags = [("--unordered", args.unordered), ("--drop-duplicate-lines", args.drop_duplicate_lines)]
        flags.append(("--skip-unknown-skus", args.skip_unknown_skus))
        print(f" --sales-log {args.sales_log}" + "".join(f" {f}" for f, on in flags if on), end="")
        if args.history_days is not None:
            print(f" --history-days {args.history_days}", end="")
    if args.fleet_prior is not None:
        print(f" --fleet-prior {args.fleet_prior}", end="")
    print(f" --handling-s {args.handling_s:g} --staff-response-s {args.staff_response_s:g}", end="")
    print(f" --staff-topup {args.staff_topup}{' --no-alerts' if args.no_alerts else ''}", end="")
    print(f" --bound-slot-s {args.bound_slot_s:g}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    history_days = args.history_days
    if args.sales_log is None and history_days is None:
        history_days = args.history_days = 21
    if args.days < 1 or (history_days or 0) < 0 or args.containers_per_day <= 0 or args.handling_s <= 0:
        parser.error("--days >= 1, --history-days >= 0, --containers-per-day > 0 and --handling-s > 0")
    try:
        store = load_store(store_file(args.store))
        fleet = FleetPrior.load(args.fleet_prior) if args.fleet_prior is not None else None
    except (StoreError, PriorError) as err:
        print(f"restock eval-planner: {err}", file=sys.stderr)
        return 2
    truth: RateSource | None = None
    generator: DemandGenerator | None = None
    if args.sales_log is not None:
        try:
            sales, notes = read_log(
                args.sales_log, store, args.unordered, args.drop_duplicate_lines, args.skip_unknown_skus
            )
        except SalesLogError as err:
            print(f"restock eval-planner: {err}", file=sys.stderr)
            return 2
        for note in notes:
            print(f"restock eval-planner: {note}")
        if not sales:
            print("restock eval-planner: the sales log is empty", file=sys.stderr)
            return 2
        t1 = (np.floor(sales[-1].t / DAY_S) + 1) * DAY_S
        t0 = max(t1 - args.days * DAY_S, np.floor(sales[0].t / DAY_S) * DAY_S)
        first = -np.inf if history_days is None else t0 - history_days * DAY_S
        history = [s for s in sales if first <= s.t < t0]
        evaluated = [s for s in sales if s.t >= t0]
        truth = SalesForesight(sales)
    else:
        truth = generator = DemandGenerator.for_daily_total(store, args.containers_per_day, seed=args.seed)
        t0 = np.floor(args.start / DAY_S) * DAY_S
        t1 = t0 + args.days * DAY_S
        rng = np.random.default_rng(args.seed + 1)
        history = [SaleIn(*s) for s in generator.sample(t0 - history_days * DAY_S, t0, rng)]
        evaluated = [SaleIn(*s) for s in generator.sample(t0, t1, rng)]
    timing = RobotTiming.for_store(store, handling_s=args.handling_s)
    started = time.perf_counter()
    outcomes, model = run_policies(
        store,
        timing,
        history,
        evaluated,
        t0,
        t1,
        truth,
        seed=args.seed,
        camera_only=args.camera_only,
        alerts=None if args.no_alerts else AlertConfig(),
        staff_response_s=args.staff_response_s,
        staff_topup=args.staff_topup,
        oracle_name="oracle" if generator is not None else "foresight",
        fleet=fleet,
    )
    _echo_command(args)
    print(f"store {store.name}: {len(store.lanes)} lanes, {len(store.skus)} SKUs; {args.days} days evaluated\n")
    bound = None
    if args.bound_slot_s > 0:
        # The same store model's lanes, robot and back room; staff on call when alerts are on.
        model_store = StoreModel(store, timing, staff_response_s=args.staff_response_s)
        bound = store_bound(model_store, evaluated, t0, t1, args.bound_slot_s, staff_on_call=not args.no_alerts)
    print(format_table(outcomes, bound))
    print("\n" + format_ratios(outcomes, bound))
    if history and any(s.t >= t0 - 7 * DAY_S for s in history):
        score = forecast_score(store, history, evaluated, t0, args.days)
        print(
            f"\nforecast error per SKU-hour over {score.days} held-out days: learned MAE {score.learned_mae:.3f} "
            f"RMSE {score.learned_rmse:.3f}; seasonal naive MAE {score.naive_mae:.3f} RMSE {score.naive_rmse:.3f}"
        )
    if not args.no_plots:
        for path in plot(args.out, store, outcomes, model, generator, t0, bound):
            print(f"wrote {path}")
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
