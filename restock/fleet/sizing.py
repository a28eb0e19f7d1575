"""`restock fleet-plan`: how many operators the fleet needs for a target wait.

An M/G/c discrete-event simulation drives the real queue (restock.fleet.queue.FleetQueue: the same
cost-of-waiting order and claim rules the PostgreSQL store runs) with Poisson handoff arrivals from
every store and heavy-tailed service times (lognormal with a given mean and coefficient of variation,
or samples measured from store days), and c operators who each claim the queue's next handoff when
free. Beside it, Erlang C: the M/M/c figure (exponential service, first come first served) and its
M/G/c scaling by (1 + cv^2) / 2 (Allen-Cunneen). The simulation is the answer (it has the real
order and the real service distribution); Erlang C says whether it is in the right place.

    restock fleet-plan --stores 300 --handoffs-per-store-day 2.57 --service-mean-s 90 --service-cv 1.0
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restock.fleet.queue import DEFAULT_PRIORITY, FleetQueue, Priority, expected_lost_sales

# The 7-day corner-store run in the README (`restock sim --days 7 --camera-period 60 --seed 7`):
# 18 handoffs in 7 days, 15.8 operator minutes (a scripted operator: a person takes longer).
MEASURED_HANDOFFS_PER_STORE_DAY = 18 / 7
MEASURED_SERVICE_MEAN_S = 15.8 * 60 / 18


def erlang_c(c: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with ``offered`` = lambda / mu Erlangs; 1.0 when c <= offered."""
    if c <= offered:
        return 1.0
    b = 1.0  # Erlang B by its stable recursion
    for k in range(1, c + 1):
        b = offered * b / (k + offered * b)
    rho = offered / c
    return b / (1.0 - rho * (1.0 - b))


def erlang_c_wait_quantile(
    c: int, arrival_per_s: float, service_mean_s: float, q: float = 0.95, cv: float = 1.0
) -> float:
    """The q-quantile of the wait (s): M/M/c's P(W > t) = C exp(-(c mu - lambda) t), the tail's rate
    scaled by (1 + cv^2) / 2 for general service (cv = 1: exactly M/M/c). inf when unstable."""
    offered = arrival_per_s * service_mean_s
    if c <= offered:
        return math.inf
    p_wait = erlang_c(c, offered)
    if p_wait <= 1.0 - q:
        return 0.0
    rate = (c / service_mean_s - arrival_per_s) / ((1.0 + cv * cv) / 2.0)
    return math.log(p_wait / (1.0 - q)) / rate


@dataclass
class ServiceTimes:
    """Lognormal with a mean and a coefficient of variation, or resampled measured times, or
    exponential (M/M/c, to check the simulation against Erlang C exactly)."""

    mean_s: float = 90.0
    cv: float = 1.0
    samples: np.ndarray | None = None
    exponential: bool = False

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.samples is not None:
            return rng.choice(self.samples, n)
        if self.exponential:
            return rng.exponential(self.mean_s, n)
        sigma2 = math.log(1.0 + self.cv**2)
        return rng.lognormal(math.log(self.mean_s) - sigma2 / 2.0, math.sqrt(sigma2), n)

    def moments(self) -> tuple[float, float]:
        if self.samples is not None:
            return float(self.samples.mean()), float(self.samples.std() / self.samples.mean())
        return self.mean_s, 1.0 if self.exponential else self.cv


@dataclass
class Outcome:
    operators: int
    handoffs: int
    waits: np.ndarray  # s, each handoff from raised to claimed (after the warm-up)
    rates: np.ndarray  # the same handoffs' blocked sales/h (what the queue ordered them by)
    busy: float  # share of operator time spent on handoffs
    lost_sales: float  # expected sales lost while handoffs waited (sum of blocked rate x wait)
    max_queue: int  # handoffs open or being worked on at once, at most

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.waits, q)) if len(self.waits) else 0.0


def simulate(
    operators: int,
    arrival_per_s: float,
    service: ServiceTimes,
    handoffs: int = 50_000,
    stores: int = 300,
    blocked_sales_mean_per_h: float = 1.0,
    seed: int = 1,
    warmup: float = 0.05,
    priority: Priority = DEFAULT_PRIORITY,
    path: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Outcome:
    """Run the queue with ``operators`` servers for ``handoffs`` arrivals (the first ``warmup`` share
    not counted). Each handoff's blocked-sales rate is exponential with the given mean (what the
    queue orders by). Events: arrival, an operator's resolve; a free operator claims the next one.
    ``path``: given arrival times, service times and blocked rates instead of drawn ones (to replay
    exactly what a run of the real service was given)."""
    rng = np.random.default_rng(seed)
    if path is None:
        gaps = rng.exponential(1.0 / arrival_per_s, handoffs)
        durations = service.draw(rng, handoffs)
        rates = rng.exponential(blocked_sales_mean_per_h, handoffs)
    else:
        arrivals, durations, rates = (np.asarray(a, float) for a in path)
        gaps, handoffs = np.diff(arrivals, prepend=0.0), len(arrivals)
    robots = rng.integers(0, stores, handoffs)
    q = FleetQueue(priority)
    events: list[tuple[float, int, int, str]] = []  # (time, order, index, operator or "")
    t = 0.0
    for i, gap in enumerate(gaps):
        t += gap
        events.append((t, 1, i, ""))
    heapq.heapify(events)
    idle = [f"op{k}" for k in range(operators)]
    index_of: dict[int, int] = {}  # queue key -> handoff index (its service time)
    waits = np.full(handoffs, np.nan)
    busy = lost = 0.0
    max_queue, first_counted, end = 0, int(handoffs * warmup), t

    def start(op: str, now: float) -> None:
        nonlocal busy, lost
        entry = q.claim_next(op, "fleet", now)
        if entry is None:
            idle.append(op)
            return
        i = index_of.pop(entry.key)
        waits[i] = now - entry.raised_at
        lost += expected_lost_sales(entry.blocked_sales_per_h, waits[i])
        busy += durations[i]
        heapq.heappush(events, (now + durations[i], 0, entry.key, op))  # resolves come before arrivals at a tie

    while events:
        now, kind, i, op = heapq.heappop(events)
        if kind == 1:  # arrival
            entry = q.add("fleet", f"robot{robots[i]}", f"h{i}", float(rates[i]), now)
            index_of[entry.key] = i
            max_queue = max(max_queue, len(q.entries))
            if idle:
                start(idle.pop(), now)
        else:
            q.resolve(i, op, "fleet")
            start(op, now)
        end = now
    counted = waits[first_counted:]
    done = ~np.isnan(counted)
    return Outcome(operators, handoffs, counted[done], rates[first_counted:][done], busy / (operators * end), lost,
                   max_queue)  # fmt: skip


def plan(
    arrival_per_s: float, service: ServiceTimes, target_s: float, q: float = 0.95, handoffs: int = 50_000,
    stores: int = 300, seed: int = 1, max_operators: int = 200,
) -> tuple[list[Outcome], list[float]]:  # fmt: skip
    """DES outcomes and Erlang C quantiles from the first stable c until the simulation meets the
    target (and one more c past it)."""
    mean_s, cv = service.moments()
    c = max(1, math.floor(arrival_per_s * mean_s) + 1)
    outcomes, erlang = [], []
    while c <= max_operators:
        out = simulate(c, arrival_per_s, service, handoffs, stores, seed=seed)
        outcomes.append(out)
        erlang.append(erlang_c_wait_quantile(c, arrival_per_s, mean_s, q, cv))
        met = [o for o in outcomes if o.quantile(q) <= target_s]
        if met and c >= met[0].operators + 1 and erlang[-1] <= target_s:
            break
        c += 1
    return outcomes, erlang


def needed(outcomes: list[Outcome], erlang: list[float], target_s: float, q: float) -> tuple[int | None, int | None]:
    des = next((o.operators for o in outcomes if o.quantile(q) <= target_s), None)
    erl = next((o.operators for o, e in zip(outcomes, erlang, strict=True) if e <= target_s), None)
    return des, erl


def draw(outcomes: list[Outcome], erlang: list[float], target_s: float, q: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = [o.operators for o in outcomes]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(cs, [o.quantile(q) for o in outcomes], "o-", label=f"simulation (real queue), p{q * 100:.0f}")
    ax.plot(cs, [min(e, 1e9) for e in erlang], "s--", label=f"Erlang C (M/G/c scaled), p{q * 100:.0f}")
    ax.axhline(target_s, color="red", lw=1, label=f"target {target_s:.0f} s")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("operators")
    ax.set_ylabel("wait before a claim (s)")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(cs)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def measured_rate(summaries: list[Path]) -> tuple[float, float | None, str]:
    """Handoffs per store-day and the mean operator time per resolved handoff (s; None if none was),
    from store days' report/summary.json files (each column a store day: `restock sim` writes them)."""
    raised = resolved = 0
    hours = minutes = 0.0
    for path in summaries:
        for column in json.loads(path.read_text()).values():
            hours += float(column.get("sim hours") or 0.0)
            raised += sum((column.get("handoffs raised") or {}).values())
            resolved += sum((column.get("handoffs resolved") or {}).values())
            minutes += float(column.get("operator minutes") or 0.0)
    if hours <= 0:
        raise ValueError("no sim hours in " + ", ".join(map(str, summaries)))
    detail = f"{raised} handoffs in {hours:.1f} sim hours ({len(summaries)} summaries), {minutes:.1f} operator minutes"
    return raised / hours * 24.0, (minutes * 60.0 / resolved if resolved else None), detail


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="restock fleet-plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", type=int, default=300)
    ap.add_argument("--handoffs-per-store-day", type=float, default=MEASURED_HANDOFFS_PER_STORE_DAY,
                    help="default: the README's 7-day corner-store run (18 in 7 days)")  # fmt: skip
    ap.add_argument("--from-runs", type=Path, nargs="+", help="store days' report/summary.json: the measured rate")
    ap.add_argument("--peak-factor", type=float, default=1.0, help="busiest hour's rate / the day's mean rate")
    ap.add_argument("--service-mean-s", type=float, default=90.0)
    ap.add_argument("--service-cv", type=float, default=1.0, help="lognormal coefficient of variation")
    ap.add_argument("--service-samples", type=Path, help="measured service times (s), one a line, instead")
    ap.add_argument("--tenants", type=int, default=1,
                    help="chains sharing the stores equally; each has its own operators (they see only its stores)")  # fmt: skip
    ap.add_argument("--target-s", type=float, default=60.0)
    ap.add_argument("--quantile", type=float, default=0.95)
    ap.add_argument("--handoffs", type=int, default=50_000, help="simulated per operator count")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plot", type=Path, default=Path("var/fleet/fleet_plan.png"))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    print(f"command: restock fleet-plan {' '.join(sys.argv[2:] if argv is None else argv)}")
    samples = None
    if args.service_samples is not None:
        samples = np.loadtxt(args.service_samples, ndmin=1)
        if samples.size == 0 or (samples <= 0).any():
            print(f"fleet-plan: {args.service_samples}: expected positive seconds, one a line", file=sys.stderr)
            return 2
    if args.from_runs:
        try:
            args.handoffs_per_store_day, scripted_s, detail = measured_rate(args.from_runs)
        except (OSError, ValueError, AttributeError) as err:
            print(f"fleet-plan: cannot read the store days: {err}", file=sys.stderr)
            return 2
        scripted = f"{scripted_s:.0f} s" if scripted_s is not None else "none resolved"
        print(f"measured: {detail}: {args.handoffs_per_store_day:.2f} handoffs/store-day; scripted operator {scripted}"
              " a handoff (not a person's time: the service time below is)")  # fmt: skip
    service = ServiceTimes(args.service_mean_s, args.service_cv, samples)
    mean_s, cv = service.moments()
    rate = args.stores * args.handoffs_per_store_day * args.peak_factor / 86400.0
    print(f"{args.stores} stores x {args.handoffs_per_store_day:.2f} handoffs/day x peak {args.peak_factor:g}"
          f" = {rate * 3600:.1f} handoffs/h; service mean {mean_s:.0f} s, cv {cv:.2f}; offered {rate * mean_s:.2f} Erlang")  # fmt: skip
    if rate <= 0:
        print("no handoffs at this rate: no operator waits, none is needed for the wait")
        return 0
    if args.tenants < 1 or args.tenants > args.stores:
        print("fleet-plan: --tenants must be between 1 and --stores", file=sys.stderr)
        return 2
    if args.tenants > 1:  # each chain is its own queue: plan one (they are alike) and count them all
        rate /= args.tenants
        print(f"{args.tenants} tenants, each {args.stores / args.tenants:g} stores, {rate * 3600:.1f} handoffs/h"
              " and operators of its own; the table is one tenant's")  # fmt: skip
    stores = max(1, args.stores // args.tenants)
    outcomes, erlang = plan(rate, service, args.target_s, args.quantile, args.handoffs, stores, args.seed)
    p = f"p{args.quantile * 100:.0f}"
    print(f"{'ops':>4} {'busy':>6} {'DES mean':>9} {'DES ' + p:>9} {'Erlang ' + p:>10} {'DES P(wait)':>11} "
          f"{'Erlang C':>9} {'max in queue':>12} {'lost sales/h':>12}")  # fmt: skip
    for o, e in zip(outcomes, erlang, strict=True):
        hours = o.handoffs / rate / 3600
        print(f"{o.operators:>4} {o.busy:>6.1%} {o.waits.mean():>8.1f}s {o.quantile(args.quantile):>8.1f}s {e:>9.1f}s "
              f"{(o.waits > 0).mean():>11.3f} {erlang_c(o.operators, rate * mean_s):>9.3f} {o.max_queue:>12} "
              f"{o.lost_sales / hours:>12.3f}")  # fmt: skip
    des, erl = needed(outcomes, erlang, args.target_s, args.quantile)
    if args.tenants > 1 and des is not None and erl is not None:
        des, erl = des * args.tenants, erl * args.tenants
    print(f"operators needed for {p} wait <= {args.target_s:.0f} s: simulation {des}, Erlang C {erl}"
          + (f" ({args.tenants} tenants' pools together)" if args.tenants > 1 else ""))  # fmt: skip
    title = (f"{args.stores} stores, {args.tenants} tenant(s), {rate * 3600:.1f} handoffs/h per tenant, service mean"
             f" {mean_s:.0f} s cv {cv:.2f}: {des} operators (Erlang C: {erl})")  # fmt: skip
    draw(outcomes, erlang, args.target_s, args.quantile, args.plot, title)
    print(f"plot: {args.plot}")
    return 0
