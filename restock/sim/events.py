"""Scripted events for the simulated store: a short text, one event per entry. No rclpy.

Entries are separated by ``;`` (or given as a list), each ``WHEN KIND ARGS...``:

- WHEN: ``+SECONDS`` after the start, ``HH:MM[:SS]`` on the start day (UTC, the store's local
  time), or an ISO 8601 date-time;
- KIND and ARGS:
  ``unfamiliar LANE [SLOT]``      an item the store does not sell in a lane (SLOT 0 = front; default the back)
  ``obstruction LANE``            something blocking a lane's front
  ``obstruction X,Y,Z``           a box in the arm's corridor at that store-frame point (m)
  ``hand CAMERA [LANE] [SECONDS]`` a customer's hand in view (default 3 s)
  ``take LANE [N]``               someone takes N items from a lane's front without a sale
  ``fill LANE N``                 set a lane to N containers of its SKU
  ``weak_grip SCALE``             from then on the gripper squeezes with SCALE of its force (1: mended)
  ``friction SCALE``              from then on every contact's friction is SCALE times its own
  ``nudge LOCATION DX,DY``        a back-room location's front container pushed off its pick point (m)
  ``tip LANE``                    the backmost container of a lane falls over (the lane jams)
  ``kick VX,VY,VZ``               the next container let go leaves the fingers at that velocity (m/s)
  ``weak_drive JOINT SCALE``      from then on a joint's drive gives SCALE of its effort (1: mended)
  ``mixup LOCATION [SKU]``        staff put another SKU (default: one as wide) at a back-room location's front

Example: ``+60 unfamiliar r1_l03 0; 08:15 hand cam_left r2_l04 5; +600 obstruction 0.8,0.25,0.6``.
Every problem raises :class:`EventScriptError` naming the entry and the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from restock.sim.world import World, parse_time


class EventScriptError(ValueError):
    """A scripted event that cannot be used; the message names the entry and why."""


@dataclass(frozen=True)
class ScriptedEvent:
    t: float  # epoch s
    kind: str
    args: tuple[str, ...]
    text: str


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$")
_KINDS = {
    "unfamiliar": (1, 2),
    "obstruction": (1, 1),
    "hand": (1, 3),
    "take": (1, 2),
    "fill": (2, 2),
    "weak_grip": (1, 1),
    "friction": (1, 1),
    "nudge": (2, 2),
    "tip": (1, 1),
    "kick": (1, 1),
    "weak_drive": (2, 2),
    "mixup": (1, 2),
}


def _when(token: str, start: float) -> float:
    if token.startswith("+"):
        t = start + float(token[1:])
    elif m := _CLOCK.match(token):
        day0 = math.floor(start / 86400.0) * 86400.0
        t = day0 + int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3] or 0)
    else:
        t = parse_time(token)
    if not math.isfinite(t):
        raise ValueError(f"{token!r} is not a finite time")
    return t


def parse_events(script: str | Iterable[str], start: float) -> list[ScriptedEvent]:
    """Parse a script (see the module docstring) into events in time order."""
    entries = [e.strip() for e in (script.split(";") if isinstance(script, str) else script)]
    out = []
    for i, text in enumerate(e for e in entries if e):
        where = f"scripted event {i + 1} ({text!r})"
        parts = text.split()
        if len(parts) < 2:
            raise EventScriptError(f"{where}: expected 'WHEN KIND ARGS...'")
        try:
            t = _when(parts[0], start)
        except ValueError as err:
            raise EventScriptError(f"{where}: bad time: {err}") from None
        kind, args = parts[1], tuple(parts[2:])
        if kind not in _KINDS:
            raise EventScriptError(f"{where}: unknown kind {kind!r}; kinds are {sorted(_KINDS)}")
        lo, hi = _KINDS[kind]
        if not lo <= len(args) <= hi:
            raise EventScriptError(f"{where}: {kind} takes {lo} to {hi} arguments, got {len(args)}")
        out.append(ScriptedEvent(t, kind, args, text))
    out.sort(key=lambda e: e.t)
    return out


def _action(world: World, ev: ScriptedEvent) -> Callable[[], object]:
    a = ev.args
    store = world.store
    names_lane = ev.kind in ("unfamiliar", "take", "fill") or (ev.kind == "obstruction" and "," not in a[0])
    if names_lane and a[0] not in store.lane_by_id:
        raise ValueError(f"unknown lane {a[0]!r}")
    if ev.kind == "unfamiliar":
        slot = int(a[1]) if len(a) > 1 else None
        return lambda: world.put_unfamiliar(a[0], slot=slot)
    if ev.kind == "obstruction":
        if "," in a[0]:
            point = [float(v) for v in a[0].split(",")]
            if len(point) != 3 or not all(math.isfinite(v) for v in point):
                raise ValueError(f"expected X,Y,Z, got {a[0]!r}")
            return lambda: world.put_obstruction(at=point)
        return lambda: world.put_obstruction(lane_id=a[0])
    if ev.kind == "hand":
        store.camera(a[0])
        lane = a[1] if len(a) > 1 else None
        if lane is not None and lane not in store.lane_by_id:
            raise ValueError(f"unknown lane {lane!r}")
        seconds = float(a[2]) if len(a) > 2 else 3.0
        if not seconds > 0:
            raise ValueError(f"the hand's duration must be positive, got {seconds}")
        return lambda: world.show_hand(a[0], lane, duration_s=seconds)
    if ev.kind == "take":
        n = int(a[1]) if len(a) > 1 else 1
        return lambda: world.take_front(a[0], n)
    if ev.kind == "mixup":
        if a[0] not in store.stock_by_id:
            raise ValueError(f"unknown stock location {a[0]!r}")
        if len(a) > 1 and a[1] not in store.skus:
            raise ValueError(f"unknown SKU {a[1]!r}")
        return lambda: world.put_mixup(a[0], a[1] if len(a) > 1 else None)
    if ev.kind == "fill":
        n = int(a[1])
        if not 0 <= n <= store.lane_by_id[a[0]].lane.capacity:
            raise ValueError(f"{n} is not between 0 and the lane's capacity")
        return lambda: world.fill_lanes({a[0]: n})
    if ev.kind == "nudge":
        if a[0] not in store.stock_by_id:
            raise ValueError(f"unknown stock location {a[0]!r}")
        dx, dy = (float(v) for v in a[1].split(","))
        return lambda: world.nudge_stock(a[0], dx, dy)
    if ev.kind == "tip":
        if a[0] not in store.lane_by_id:
            raise ValueError(f"unknown lane {a[0]!r}")
        return lambda: world.tip_in_lane(a[0])
    if ev.kind == "kick":
        v = tuple(float(x) for x in a[0].split(","))
        if len(v) != 3 or not all(math.isfinite(x) and abs(x) <= 5 for x in v):
            raise ValueError("a kick is VX,VY,VZ in m/s, each within 5")
        return lambda: setattr(world.faults, "kick", v)
    if ev.kind == "weak_drive":
        joint, drive_scale = a[0], float(a[1])
        if joint not in store.robot.JOINT_NAMES:
            raise ValueError(f"unknown joint {joint!r}; joints are {list(store.robot.JOINT_NAMES)}")
        if not 0 < drive_scale <= 1:
            raise ValueError(f"a drive's scale must be in (0, 1], got {drive_scale}")
        return lambda: world.faults.drive_scale.__setitem__(joint, drive_scale)
    scale = float(a[0])
    if not 0 < scale <= 10:
        raise ValueError(f"a scale must be in (0, 10], got {scale}")
    field = "grip_force_scale" if ev.kind == "weak_grip" else "friction_scale"
    return lambda: setattr(world.faults, field, scale)


def schedule_events(world: World, script: str | Iterable[str]) -> list[ScriptedEvent]:
    """Check every entry against the world's store, then schedule them; returns the events.
    Times count from the world's start; a world resumed from a checkpoint skips those past."""
    events = parse_events(script, world.start_time)
    actions = []
    for ev in events:
        try:
            actions.append(_action(world, ev))
        except (ValueError, KeyError) as err:
            raise EventScriptError(f"scripted event {ev.text!r}: {err}") from None
    for ev, action in zip(events, actions, strict=True):
        if ev.t < world.time:
            continue
        world.schedule(ev.t, lambda action=action: world._try(action))  # no room, no body left: logged, skipped
    return events
