"""The store-day report: PNG plots and one HTML page, from a :class:`DayStats`."""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from restock.day.daystats import DayStats

OUTCOME_COLOURS = {
    "done": "tab:green",
    "partial": "tab:olive",
    "failed": "tab:red",
    "parked": "tab:orange",
    "rejected": "tab:gray",
}


def _hours(stats: DayStats, t: np.ndarray | list[float]) -> np.ndarray:
    return (np.asarray(t, float) - (stats.start or 0.0)) / 3600.0


def plot_stock(stats: DayStats, path: Path) -> None:
    counts = stats.stock_counts().astype(float).T  # lanes x samples
    fig, ax = plt.subplots(figsize=(11, max(3.0, 0.18 * len(stats.lane_ids) + 1.5)))
    if counts.size:
        t = _hours(stats, stats.series_t)
        im = ax.imshow(
            counts,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
            extent=(t[0], t[-1] if len(t) > 1 else t[0] + 1, len(stats.lane_ids) - 0.5, -0.5),
        )
        fig.colorbar(im, ax=ax, label="containers in lane")
        ax.set_yticks(range(len(stats.lane_ids)), stats.lane_ids, fontsize=6)
        empty = counts == 0
        if empty.any():
            ys, xs = np.nonzero(empty)
            ax.scatter(t[xs], ys, marker="s", s=4, color="red", label="empty")
            ax.legend(loc="upper right")
    ax.set_xlabel("hours since start")
    ax.set_title("Stock per lane over the day")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sales(stats: DayStats, path: Path) -> None:
    """Containers sold and lost per clock hour side by side, and the planner's demand forecast for
    each hour as it held it when the hour began (a first or last hour the run covered only in part
    is drawn as narrow as that part, its counts and forecast over it)."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    hourly = stats.hourly()
    if len(hourly.sold):
        t0, t1 = _hours(stats, hourly.start), _hours(stats, hourly.end)
        half = (t1 - t0) * 0.45  # two bars per hour with a small gap between hours
        ax.bar(t0 + 0.05 * (t1 - t0), hourly.sold, width=half, align="edge", color="tab:blue", label="sold")
        ax.bar(t0 + 0.5 * (t1 - t0), hourly.lost, width=half, align="edge", color="tab:red", label="lost (lane empty)")
        known = np.isfinite(hourly.forecast)
        if known.any():
            ax.hlines(
                hourly.forecast[known],
                t0[known],
                t1[known],
                color="black",
                linewidth=2,
                label="planner's demand forecast, held at the hour's start",
            )
        ax.set_xlim(min(t0[0], 0.0), max(t1[-1], t0[0] + 1.0))
    ax.set_xlabel("hours since start")
    ax.set_ylabel("containers in the hour")
    ax.set_title("Sales and lost sales per hour, and the demand the planner expected")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_timeline(stats: DayStats, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 2.8))
    for r in stats.result_log:
        s, e = _hours(stats, [r.started, r.finished])
        ax.broken_barh([(s, max(e - s, 1e-4))], (0.6, 0.8), color=OUTCOME_COLOURS.get(r.outcome, "k"))
    for h in stats.handoffs.values():
        ax.plot(_hours(stats, [h.stamp]), [0.3], "v", color="tab:purple")
    ax.set_yticks([0.3, 1.0], ["handoffs", "robot tasks"])
    ax.set_ylim(0, 1.6)
    ax.set_xlabel("hours since start")
    ax.set_title("Robot timeline (green done, orange parked, red failed) and handoffs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(stats: DayStats, out_dir: Path, title: str, tables: dict[str, dict[str, object]]) -> Path:
    """PNG plots and index.html under out_dir; ``tables`` maps a column name to its summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {"stock.png": plot_stock, "sales.png": plot_sales, "timeline.png": plot_timeline}
    for name, plot in plots.items():
        plot(stats, out_dir / name)
    keys = list(dict.fromkeys(k for t in tables.values() for k in t))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in tables)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>"
        + "".join(f"<td>{html.escape(format_cell(t.get(k)))}</td>" for t in tables.values())
        + "</tr>"
        for k in keys
    )
    started = datetime.fromtimestamp(stats.start or 0, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1><p>Sim start {started} UTC, {stats.duration_s / 3600:.1f} sim hours.</p>
<table><tr><th></th>{head}</tr>{rows}</table>
{"".join(f'<h2>{n[:-4]}</h2><img src="{n}" alt="{n[:-4]}">' for n in plots)}
{"".join(backroom_alerts_html(db) for db in sorted(out_dir.parent.glob("*/planner.db")))}
</body></html>"""
    index = out_dir / "index.html"
    index.write_text(page)
    (out_dir / "summary.json").write_text(json.dumps(tables, indent=2, default=str))
    return index


def format_cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)


def backroom_alerts_html(db_path: Path) -> str:
    """The planner's back-room alerts to staff (its journal in the run's planner.db), as a table."""
    import sqlite3

    from restock import records

    if not db_path.exists():
        return ""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT body FROM events WHERE kind = ? ORDER BY id", ("backroom_alert",)).fetchall()
    except sqlite3.Error:
        return ""
    alerts = [records.decode(body, records.BackroomAlert) for (body,) in rows]
    cells = "".join(
        f"<tr><td>{datetime.fromtimestamp(a.stamp, tz=timezone.utc):%H:%M}</td><td>{a.state}</td>"
        f"<td>{html.escape(a.message)}</td></tr>"
        for a in alerts
    )
    title = f"back-room alerts to staff ({html.escape(db_path.parent.name)})"
    return f"<h2>{title}</h2><p>{len(alerts)} alert records</p><table>{cells}</table>"
