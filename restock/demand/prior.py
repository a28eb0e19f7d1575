"""A fleet prior: a new store's demand model starts from other stores' models instead of from nothing.

Without history the learned model (restock.demand.model) starts every SKU at a generic level (10
containers per lane and day) and a generic store-day shape, and learns nothing about bursts: for
its first week a new store plans on guesses. A chain has years of sales in stores like it. The
prior pools their fitted models:

- per SKU (the same SKU sold elsewhere), per SKU kind (bottle, can, carton) and for the whole
  store: a week of relative rates (168 hour-of-week values, mean 1: the hour-of-day and weekday
  shape) and a level in containers per lane and day. Each source store counts once, whatever its
  volume, so one big store does not impose its habits;
- the yearly term per SKU (the mean of the sources');
- how sales cluster (restock.demand.burst): the mean gain, the median times and the geometric
  mean dispersion of the sources'.

The new store's model takes for each SKU the most specific shape the prior has (the SKU's, else
its kind's, else the store's) scaled by the SKU's lanes there, as the hour-of-day, weekday and level
priors of its hierarchy; a store-wide scale, learned from all of its sales so far (the first day
already says a lot), then moves every SKU's level together: a store twice as busy as the fleet's
is read as such after its first hours, not SKU by SKU over weeks (:class:`FleetPrior` in
:meth:`restock.demand.model.DemandModel.set_fleet`).

Built from sales logs (each mapped onto a store description) or from the demand generator's
stores, saved as JSON:

    restock fleet-prior --out var/prior.json --sales-log LOG.csv --store corner_store.yaml \\
        [--sales-log LOG2.csv ...] [--generated station_kiosk.yaml:1000:7]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from restock.demand.burst import BurstFit

WEEK_H = 168
VERSION = 1


class PriorError(ValueError):
    """A prior file that cannot be read (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class Shape:
    """A pooled demand table: containers per lane and day, and the week's relative rates (mean 1)."""

    per_lane_day: float
    week: np.ndarray  # 168 values, Monday 00:00 first, mean 1
    stores: int = 1  # source stores behind it

    def table(self, lanes: int) -> np.ndarray:
        """Containers per hour by hour of the week for a SKU with ``lanes`` lanes."""
        return self.week * (self.per_lane_day * max(lanes, 1) / 24.0)


@dataclass(frozen=True)
class SourceModel:
    """One source store's fitted demand: per SKU its week table (containers/hour), lanes, kind."""

    name: str
    tables: dict[str, np.ndarray]
    lanes: dict[str, int]
    kinds: dict[str, str]
    yearly: dict[str, tuple[float, float]]
    burst: BurstFit | None = None


@dataclass(frozen=True)
class FleetPrior:
    skus: dict[str, Shape]
    kinds: dict[str, Shape]
    store: Shape
    yearly: dict[str, tuple[float, float]] = field(default_factory=dict)
    burst: BurstFit | None = None
    sources: tuple[str, ...] = ()

    def shape_for(self, sku: str, kind: str | None = None) -> Shape:
        """The most specific shape: the SKU's, else its kind's, else the whole store's."""
        if sku in self.skus:
            return self.skus[sku]
        if kind is not None and kind in self.kinds:
            return self.kinds[kind]
        return self.store

    # --- JSON -------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        def shape(s: Shape) -> dict[str, object]:
            return {"per_lane_day": s.per_lane_day, "stores": s.stores, "week": [round(float(v), 5) for v in s.week]}

        return {
            "version": VERSION,
            "sources": list(self.sources),
            "store": shape(self.store),
            "skus": {k: shape(v) for k, v in sorted(self.skus.items())},
            "kinds": {k: shape(v) for k, v in sorted(self.kinds.items())},
            "yearly": {k: list(v) for k, v in sorted(self.yearly.items())},
            "burst": asdict(self.burst) if self.burst is not None else None,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: object, where: str = "prior") -> FleetPrior:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise PriorError(f"{where}: not a fleet prior of version {VERSION}")

        def shape(obj: object, key: str) -> Shape:
            if not isinstance(obj, dict):
                raise PriorError(f"{where}: {key} is not an object")
            try:
                week = np.asarray(obj["week"], dtype=float)
                level = float(obj["per_lane_day"])
                stores = int(obj.get("stores", 1))
            except (KeyError, TypeError, ValueError) as err:
                raise PriorError(f"{where}: {key}: {err}") from None
            if week.shape != (WEEK_H,) or not np.all(np.isfinite(week)) or np.any(week < 0) or week.mean() <= 0:
                raise PriorError(f"{where}: {key}.week must be {WEEK_H} non-negative numbers, not all 0")
            if not math.isfinite(level) or level < 0:
                raise PriorError(f"{where}: {key}.per_lane_day must be a non-negative number")
            return Shape(level, week / week.mean(), stores)

        def shapes(key: str) -> dict[str, Shape]:
            obj = data.get(key, {})
            if not isinstance(obj, dict):
                raise PriorError(f"{where}: {key} is not an object")
            return {str(k): shape(v, f"{key}.{k}") for k, v in obj.items()}

        burst = data.get("burst")
        try:
            fit = BurstFit(**burst) if isinstance(burst, dict) else None
            yearly = {str(k): (float(v[0]), float(v[1])) for k, v in dict(data.get("yearly", {})).items()}
        except (TypeError, ValueError, IndexError) as err:
            raise PriorError(f"{where}: {err}") from None
        return cls(
            shapes("skus"),
            shapes("kinds"),
            shape(data.get("store"), "store"),
            yearly,
            fit,
            tuple(data.get("sources", ())),
        )

    @classmethod
    def load(cls, path: Path) -> FleetPrior:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise PriorError(f"{path}: {err}") from None
        return cls.from_json(data, str(path))


def _pool(tables: Sequence[tuple[np.ndarray, int]]) -> Shape:
    """One shape from several stores' tables (containers/hour, with their lanes): each store once."""
    shapes, levels = [], []
    for table, lanes in tables:
        mean = float(np.mean(table))
        if mean <= 0:
            continue
        shapes.append(table / mean)
        levels.append(mean * 24.0 / max(lanes, 1))
    if not shapes:
        return Shape(0.0, np.ones(WEEK_H), 0)
    return Shape(float(np.mean(levels)), np.mean(shapes, axis=0), len(shapes))


def build_prior(sources: Iterable[SourceModel]) -> FleetPrior:
    """Pool source stores' models: per SKU, per kind and for the whole store, plus bursts and seasons."""
    sources = list(sources)
    by_sku: dict[str, list[tuple[np.ndarray, int]]] = {}
    by_kind: dict[str, list[tuple[np.ndarray, int]]] = {}
    whole: list[tuple[np.ndarray, int]] = []
    yearly: dict[str, list[tuple[float, float]]] = {}
    for src in sources:
        kind_sum: dict[str, tuple[np.ndarray, int]] = {}
        total, lanes_total = np.zeros(WEEK_H), 0
        for sku, table in src.tables.items():
            lanes = src.lanes.get(sku, 1)
            by_sku.setdefault(sku, []).append((table, lanes))
            kind = src.kinds.get(sku, "")
            t, n = kind_sum.get(kind, (np.zeros(WEEK_H), 0))
            kind_sum[kind] = (t + table, n + lanes)
            total, lanes_total = total + table, lanes_total + lanes
            if sku in src.yearly:
                yearly.setdefault(sku, []).append(src.yearly[sku])
        for kind, pair in kind_sum.items():
            by_kind.setdefault(kind, []).append(pair)
        whole.append((total, lanes_total))
    bursts = [s.burst for s in sources if s.burst is not None]
    burst = None
    if bursts:
        gains = [b.gain for b in bursts]
        middle = sorted(bursts, key=lambda b: b.gain)[len(bursts) // 2]
        burst = BurstFit(
            gain=float(np.mean(gains)),
            window_s=middle.window_s,
            decay_s=middle.decay_s,
            samples=0,
            dispersion=float(np.exp(np.mean([math.log(max(b.dispersion, 1.0)) for b in bursts]))),
        )
    return FleetPrior(
        {k: _pool(v) for k, v in by_sku.items()},
        {k: _pool(v) for k, v in by_kind.items() if k},
        _pool(whole),
        {k: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for k, v in yearly.items()},
        burst,
        tuple(s.name for s in sources),
    )


def source_from_sales(
    name: str, sales: Iterable[tuple[float, str, int]], until: float, lanes: dict[str, int], kinds: dict[str, str]
) -> SourceModel:
    """A source store's model, learned from its sales history (time, SKU, containers) up to ``until``."""
    from restock.demand.model import DemandModel

    model = DemandModel(lanes)
    model.learn_log(sales, until)
    model.fit()
    return source_from_model(name, model, kinds)


def source_from_model(name: str, model: object, kinds: dict[str, str]) -> SourceModel:
    """A fitted DemandModel as a source: its weekly tables (the yearly term divided out)."""
    from restock.demand.model import DemandModel

    assert isinstance(model, DemandModel)
    tables, yearly = {}, {}
    for sku in model.skus:
        if model.sku_sold(sku):
            tables[sku] = model.week_table(sku)
            i = model.sku_index(sku)
            yearly[sku] = (float(model.yearly[i, 0]), float(model.yearly[i, 1]))
    learned = model.burst.fit if model.burst.fit.samples > 0 else None
    return SourceModel(name, tables, dict(model.lanes_per_sku), kinds, yearly, learned)


def main(argv: list[str] | None = None) -> int:
    """`restock fleet-prior`: build a fleet prior from other stores' sales logs or generated demand."""
    from restock.demand.generator import DemandGenerator
    from restock.demand.saleslog import SalesLogError, read_sales_log
    from restock.paths import store_file
    from restock.store.description import StoreError, load_store

    parser = argparse.ArgumentParser(prog="restock fleet-prior", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the prior's JSON file (written)")
    parser.add_argument(
        "--sales-log", type=Path, action="append", default=[], help="a source store's sales log (repeatable)"
    )
    parser.add_argument(
        "--store", action="append", default=[], help="the store each --sales-log is mapped onto (one, or one per log)"
    )
    parser.add_argument(
        "--generated",
        action="append",
        default=[],
        metavar="STORE:PER_DAY:SEED[:DAYS]",
        help="a source store from the demand generator (default 56 days ending 2026-07-20)",
    )
    args = parser.parse_args(argv)
    if not args.sales_log and not args.generated:
        parser.error("give at least one --sales-log or --generated source")
    stores = args.store or ["corner_store.yaml"]
    if args.sales_log and len(stores) not in (1, len(args.sales_log)):
        parser.error("give one --store, or one per --sales-log")
    sources = []
    try:
        for k, path in enumerate(args.sales_log):
            store = load_store(store_file(stores[min(k, len(stores) - 1)]))
            events = read_sales_log(path, store, False)
            if not events:
                parser.error(f"{path}: no sales")
            until = (math.floor(events[-1].stamp / 86_400.0) + 1) * 86_400.0
            sources.append(
                source_from_sales(
                    str(path), ((e.stamp, e.sku, e.quantity) for e in events), until, *_store_facts(store)
                )
            )
        for spec in args.generated:
            parts = spec.split(":")
            if len(parts) not in (3, 4):
                parser.error(f"--generated {spec!r}: STORE:PER_DAY:SEED[:DAYS]")
            store = load_store(store_file(parts[0]))
            days = int(parts[3]) if len(parts) == 4 else 56
            gen = DemandGenerator.for_daily_total(store, float(parts[1]), seed=int(parts[2]))
            t1 = 1_784_505_600.0
            sales = gen.sample(t1 - days * 86_400.0, t1, np.random.default_rng(int(parts[2]) + 1))
            sources.append(source_from_sales(f"generated {spec}", sales, t1, *_store_facts(store)))
    except (StoreError, SalesLogError, ValueError) as err:
        print(f"restock fleet-prior: {err}", file=sys.stderr)
        return 2
    prior = build_prior(sources)
    prior.save(args.out)
    burst = prior.burst
    print(
        f"wrote {args.out}: {len(sources)} source stores, {len(prior.skus)} SKUs, kinds {sorted(prior.kinds)}, "
        f"{prior.store.per_lane_day:.1f} containers per lane-day"
        + (f", burst gain {burst.gain:.2f} dispersion {burst.dispersion:.1f}" if burst else ", no bursts learned")
    )
    return 0


def _store_facts(store: object) -> tuple[dict[str, int], dict[str, str]]:
    """Lanes per SKU and each SKU's kind, from a store description."""
    from restock.store.description import Store

    assert isinstance(store, Store)
    lanes: dict[str, int] = {}
    for lv in store.lanes:
        lanes[lv.lane.sku] = lanes.get(lv.lane.sku, 0) + 1
    return lanes, {sku: spec.kind for sku, spec in store.skus.items()}


if __name__ == "__main__":
    raise SystemExit(main())
