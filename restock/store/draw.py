"""A picture of a store (``restock check-store FILE --draw OUT.png``): what a store engineer would rather look at than YAML.

Three views sharing the rail's x axis, in metres of the store frame:

- the case from the front (x, z): each row's lanes as their containers stand, coloured by SKU,
  the loading points, the lift's range (the band the arm's grasp centre can reach in height),
  each camera's field of view where it meets the customer-facing front, and under each lane one
  tick per camera that judges its front;
- the back-room rack from the corridor (x, z): the stock locations, coloured by SKU;
- the store from above (x, y): the case, the rail and the carriage's travel, the band the arm
  reaches from the rail, the rack, and each camera with its horizontal field of view.

Lanes and stock locations that fail a check of :mod:`restock.store.serviceable` are outlined in
red, and the problems are listed under the views. Matplotlib's Agg canvas, no pyplot state.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle

from restock.motion.kinematics import LIFT, RAIL, ArmModel
from restock.store.description import Camera, Store
from restock.store.serviceable import Problem
from restock.vision.lanes import front_box

FAIL = "#d00000"
# Distinct from the SKUs' own colours (which are the containers' body colours).
RACK_DEPTH = 0.25  # drawn depth of the back-room rack (m): the store file gives only its pick face
CAMERA_COLOURS = ("#1f77b4", "#e377c2", "#17becf", "#9467bd", "#8c564b", "#bcbd22")


def draw_store(store: Store, found: Sequence[Problem], out: str | Path) -> Path:
    """Write the picture of ``store`` to ``out`` (PNG); ``found``: its problems (outlined in red)."""
    bad_lanes = {lane for p in found for lane in p.lanes}
    bad_stock = {loc for p in found for loc in p.stock}
    model = ArmModel.from_store(store)
    lift = (model.base_height + model.lower[LIFT], model.base_height + model.upper[LIFT])
    rail = (float(model.lower[RAIL]), float(model.upper[RAIL]))
    x_lo = min(store.case.x_min, rail[0], *(loc.x for loc in store.stock.locations)) - 0.15
    x_hi = max(store.case.x_max, rail[1], *(loc.x for loc in store.stock.locations)) + 0.15
    case_top = max(row.height + row.clearance for row in store.case.rows)
    z_hi = max(case_top, lift[1]) + 0.15
    rack_top = max(loc.z + store.skus[loc.sku].height for loc in store.stock.locations)
    rack_hi = max(rack_top, lift[0]) + 0.2
    y_lo = store.stock.y - 0.35
    y_hi = max(max(c.position[1] for c in store.cameras), store.case.back_y + _depth(store)) + 0.2

    # Inches per metre: the same in every view (equal aspect), a small store drawn no larger than 5.
    span = x_hi - x_lo
    scale = min(12.0 / span, 5.0)
    plot_w, left_in, legend_in, top_in, gap_in = span * scale, 0.9, 4.8, 1.1, 0.7
    fig_w = left_in + plot_w + legend_in
    lines = [f"- {p}" for p in found] or ["- no problems: every lane and stock location is reachable and judged"]
    width_chars = int((fig_w - 1.0) / 0.071)  # 8.5 pt monospace
    text = "\n".join(textwrap.fill(line, width_chars, subsequent_indent="   ") for line in lines)
    bottom_in = 0.9 + 0.15 * (text.count("\n") + 1)
    heights = [z_hi, rack_hi, y_hi - y_lo]
    fig_h = top_in + scale * sum(heights) + 2 * gap_in + bottom_in
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        3,
        1,
        height_ratios=heights,
        left=left_in / fig_w,
        right=(left_in + plot_w) / fig_w,
        top=1 - top_in / fig_h,
        bottom=bottom_in / fig_h,
        hspace=gap_in / (scale * sum(heights) / 3),
    )
    front, rack, top = (fig.add_subplot(grid[i]) for i in range(3))
    for ax in (front, rack, top):
        ax.set_xlim(x_lo, x_hi)
        ax.set_aspect("equal")
        ax.grid(True, color="#e6e6e6", lw=0.6, zorder=0)
    front.set_ylim(0.0, z_hi)
    rack.set_ylim(0.0, rack_hi)
    top.set_ylim(y_lo, y_hi)

    cam_colour = {cam.id: CAMERA_COLOURS[i % len(CAMERA_COLOURS)] for i, cam in enumerate(store.cameras)}
    _draw_front(front, store, bad_lanes, lift, cam_colour)
    _draw_rack(rack, store, bad_stock, lift)
    _draw_top(top, store, model, bad_lanes, bad_stock, rail, cam_colour)

    verdict = "the robot can serve it" if not found else f"{len(found)} problem(s): red outlines"
    fig.suptitle(
        f"{store.name}: {len(store.lanes)} lanes, {len(store.skus)} SKUs, {verdict}", fontsize=14, y=1 - 0.3 / fig_h
    )
    handles = [
        Patch(facecolor=sku.color, edgecolor="#333", label=f"{sid} ({sku.name})") for sid, sku in store.skus.items()
    ]
    handles += [
        Line2D(
            [],
            [],
            color=cam_colour[c.id],
            lw=2,
            ls="--",
            label=f"{c.id}: view on the case front;\nticks: the lanes it judges",
        )
        for c in store.cameras
    ]
    handles += [
        Patch(facecolor="#f1e1b0", edgecolor="none", label="outside the lift's range"),
        Patch(facecolor="#cfe8cf", edgecolor="none", label="arm's reach from the rail"),
        Line2D([], [], color="#444", lw=4, label="rail (carriage travel)"),
        Line2D([], [], color="k", marker="o", ls="", ms=4, label="loading / pick point"),
        Patch(facecolor="none", edgecolor=FAIL, lw=2.5, label="fails a check"),
    ]
    legend_x = (left_in + plot_w + 0.3) / fig_w
    fig.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(legend_x, 1 - top_in / fig_h), fontsize=9, frameon=False
    )
    fig.text(0.5 / fig_w, (bottom_in - 0.6) / fig_h, text, va="top", fontsize=8.5, family="monospace")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def _depth(store: Store) -> float:
    return max(row.depth for row in store.case.rows)


def _draw_front(ax: Axes, store: Store, bad: set[str], lift: tuple[float, float], cam_colour: dict[str, str]) -> None:
    ax.set_title("the case from the front (customers' side): lanes by SKU, loading points, cameras' view", fontsize=11)
    ax.set_ylabel("z (m)")
    _shade_outside(ax, lift)
    case = store.case
    ax.add_patch(
        Rectangle(
            (case.x_min, 0), case.x_max - case.x_min, max(r.height + r.clearance for r in case.rows), fill=False, lw=1.2
        )
    )
    models = {c.id: c.model for c in store.cameras}
    tick = 0.018
    for row in case.rows:
        ax.plot([case.x_min, case.x_max], [row.height, row.height], color="#555", lw=1.5, zorder=2)
        ax.text(
            case.x_min - 0.02, row.height + 0.01, f"{row.id}\nz={row.height:g}", ha="right", va="bottom", fontsize=8
        )
        for lane in row.lanes:
            lv = store.lane_by_id[lane.id]
            sku = lv.sku
            x0 = lane.x - sku.across / 2
            _item(ax, (x0, row.height), sku.across, sku.height, sku.color, lane.id in bad)
            ax.text(lane.x, row.height + sku.height + 0.008, lane.id, ha="center", va="bottom", fontsize=6.5, zorder=4)
            _, _, z_load = lv.loading_point()
            ax.plot([lane.x], [z_load], "o", color="k", ms=2.5, zorder=5)
            # One tick per camera that judges this lane's front, under the lane.
            judges = [cid for cid, m in models.items() if front_box(m, lv)[0] is not None]
            for k, cid in enumerate(judges):
                y = row.height - (k + 1) * tick
                ax.plot([x0, x0 + sku.across], [y, y], color=cam_colour[cid], lw=2.2, solid_capstyle="butt", zorder=3)
    y_front = case.back_y + _depth(store)
    for cam in store.cameras:
        poly = _view_on_plane(cam, y_front)
        if poly is not None:
            ax.add_patch(Polygon(poly, closed=True, fill=False, ls="--", lw=1.8, ec=cam_colour[cam.id], zorder=6))
            centre = poly.mean(axis=0)
            ax.text(
                centre[0],
                poly[:, 1].max() - 0.02,
                cam.id,
                color=cam_colour[cam.id],
                ha="center",
                va="top",
                fontsize=9,
                zorder=6,
                clip_on=True,
            )


def _draw_rack(ax: Axes, store: Store, bad: set[str], lift: tuple[float, float]) -> None:
    ax.set_title("the back-room rack from the corridor: stock locations (quantity / capacity)", fontsize=11)
    ax.set_ylabel("z (m)")
    _shade_outside(ax, lift)
    for loc in store.stock.locations:
        sku = store.skus[loc.sku]
        w = _rack_width(sku.across)
        _item(ax, (loc.x - w / 2, loc.z), w, sku.height, sku.color, loc.id in bad)
        ax.plot([loc.x - w / 2 - 0.02, loc.x + w / 2 + 0.02], [loc.z, loc.z], color="#555", lw=1.5, zorder=2)
        _, _, z_pick = store.stock_pick_point(loc)
        ax.plot([loc.x], [z_pick], "o", color="k", ms=2.5, zorder=5)
        ax.text(
            loc.x,
            loc.z + sku.height + 0.01,
            f"{loc.id}\n{loc.quantity}/{loc.capacity}",
            ha="center",
            va="bottom",
            fontsize=7,
            zorder=4,
        )


def _draw_top(
    ax: Axes,
    store: Store,
    model: ArmModel,
    bad_lanes: set[str],
    bad_stock: set[str],
    rail: tuple[float, float],
    cam_colour: dict[str, str],
) -> None:
    ax.set_title(
        "from above: rail, the arm's reach, back-room rack, case, cameras' horizontal field of view", fontsize=11
    )
    ax.set_xlabel("x along the rail (m)")
    ax.set_ylabel("y (m)")
    case = store.case
    # The band the grasp centre reaches from the rail: the wrist within the links' reach, the
    # tool pointing into the case (+y) or the rack (-y); the arm reaches towards +x only.
    reach = model.reach_max + model.lt
    band = (rail[0], model.rail_y - reach), rail[1] - rail[0] + model.reach_max, 2 * reach
    ax.add_patch(Rectangle(*band, facecolor="#cfe8cf", edgecolor="none", zorder=1))
    ax.add_patch(Rectangle(*band, fill=False, edgecolor="#5a9a5a", lw=1, ls=":", zorder=5))
    ax.plot(rail, [model.rail_y, model.rail_y], color="#444", lw=4, zorder=4, solid_capstyle="butt")
    ax.text(rail[0], model.rail_y + 0.02, "rail", fontsize=8, va="bottom")
    depth = _depth(store)
    ax.add_patch(Rectangle((case.x_min, case.back_y), case.x_max - case.x_min, depth, fill=False, lw=1.2, zorder=4))
    ax.text(case.x_max + 0.02, case.back_y + depth / 2, "case", fontsize=8, va="center")
    ax.text(case.x_max + 0.02, case.back_y, "loading side", fontsize=7, va="center", color="#555")
    ax.text(case.x_max + 0.02, case.back_y + depth, "customers", fontsize=7, va="center", color="#555")
    for lv in store.lanes:
        failing = lv.id in bad_lanes
        ax.add_patch(
            Rectangle(
                (lv.lane.x - lv.lane.width / 2, case.back_y),
                lv.lane.width,
                lv.row.depth,
                fill=False,
                edgecolor=FAIL if failing else "#aaa",
                lw=2.0 if failing else 0.5,
                zorder=3 if failing else 2,
            )
        )
        x, y, _ = lv.loading_point()
        ax.plot([x], [y], "o", color="k", ms=2, zorder=5)
    for loc in store.stock.locations:
        sku = store.skus[loc.sku]
        w = _rack_width(sku.across)
        _item(ax, (loc.x - w / 2, store.stock.y - RACK_DEPTH), w, RACK_DEPTH, sku.color, loc.id in bad_stock)
        x, y, _ = store.stock_pick_point(loc)
        ax.plot([x], [y], "o", color="k", ms=2, zorder=5)
    ax.text(ax.get_xlim()[0] + 0.02, store.stock.y - RACK_DEPTH - 0.05, "back-room rack", fontsize=8, va="top")
    for cam in store.cameras:
        _draw_camera_top(ax, cam, case.back_y, cam_colour[cam.id])


def _draw_camera_top(ax: Axes, cam: Camera, stop_y: float, colour: str) -> None:
    m = cam.model
    p = np.asarray(cam.position, float)
    half = math.atan(math.tan(math.radians(cam.fov_y_deg) / 2) * cam.width / cam.height)
    ends = []
    for s in (-1.0, 1.0):
        d = m.rotation @ np.array([s * math.tan(half), 0.0, 1.0])
        d2 = d[:2] / max(np.linalg.norm(d[:2]), 1e-9)
        t = (stop_y - p[1]) / d2[1] if abs(d2[1]) > 1e-6 and (stop_y - p[1]) / d2[1] > 0 else 1.5
        ends.append(p[:2] + min(t, 4.0) * d2)
    ax.add_patch(
        Polygon([p[:2], ends[0], ends[1]], closed=True, facecolor=colour, alpha=0.07, edgecolor="none", zorder=2)
    )
    for e in ends:
        ax.plot([p[0], e[0]], [p[1], e[1]], color=colour, ls="--", lw=1.5, zorder=4)
    ax.plot([p[0]], [p[1]], marker="s", color=colour, ms=9, zorder=6)
    ax.text(
        p[0],
        p[1] + 0.05,
        f"{cam.id} (z={cam.position[2]:g} m)",
        color=colour,
        ha="center",
        va="bottom",
        fontsize=9,
        zorder=6,
    )


def _view_on_plane(cam: Camera, y_plane: float) -> np.ndarray | None:
    """Where the image's border meets the plane y = ``y_plane``, as (x, z) points; None if it does not."""
    m = cam.model
    f = m.fy
    pts = []
    # Along the border, so the outline is right where the rays fan out at a slant.
    us = np.linspace(0, cam.width, 9)
    vs = np.linspace(0, cam.height, 7)
    border = (
        [(u, 0.0) for u in us]
        + [(cam.width, v) for v in vs]
        + [(u, cam.height) for u in us[::-1]]
        + [(0.0, v) for v in vs[::-1]]
    )
    for u, v in border:
        d = m.rotation @ np.array([(u - cam.width / 2) / f, (v - cam.height / 2) / f, 1.0])
        if abs(d[1]) < 1e-9:
            return None
        t = (y_plane - m.position[1]) / d[1]
        if t <= 0:
            return None
        q = m.position + t * d
        pts.append((q[0], q[2]))
    return np.array(pts)


def _item(ax: Axes, corner: tuple[float, float], w: float, h: float, colour: Sequence[float], failing: bool) -> None:
    """A lane's container or a stock location, in its SKU's colour; red and thick when it fails a check."""
    edge, lw = (FAIL, 2.5) if failing else ("#333", 0.6)
    ax.add_patch(Rectangle(corner, w, h, facecolor=colour, edgecolor=edge, lw=lw, zorder=3))


def _rack_width(across: float) -> float:
    """A stock location drawn a few containers wide, so its label fits."""
    return max(across * 3, 0.12)


def _shade_outside(ax: Axes, lift: tuple[float, float]) -> None:
    """The heights the grasp centre cannot reach, shaded."""
    lo, hi = ax.get_xlim()
    ax.axhspan(0.0, lift[0], color="#f1e1b0", zorder=1, lw=0)
    ax.axhspan(lift[1], 10.0, color="#f1e1b0", zorder=1, lw=0)
    for z in lift:
        ax.plot([lo, hi], [z, z], color="#b08a2e", lw=1, ls=":", zorder=2)
    ax.text(
        hi - 0.02,
        lift[0],
        f"lift's range {lift[0]:.2f}..{lift[1]:.2f} m",
        ha="right",
        va="bottom",
        fontsize=8,
        color="#7a5c12",
        zorder=6,
    )
