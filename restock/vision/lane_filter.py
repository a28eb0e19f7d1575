"""Temporal filtering of lane readings: a passing hand is not a gap, a real gap is reported quickly.

Per lane, the published state changes only when the last ``confirm_frames`` frames that
*saw* the lane front (not hidden by a hand or an obstruction) agree. Frames where the front
is hidden neither confirm nor break a change: the last confirmed state is held, for at most
``hold_s`` seconds, after which the lane is unknown. So a gap appearing in view is reported
after at most ``confirm_frames`` frames in which it is visible; a hand, however long it stays,
never makes a lane empty.

Flags (unfamiliar item, obstruction) rise after ``flag_frames`` consecutive frames with the
flag and fall after ``flag_frames`` consecutive frames without it; each rise is one incident
(:attr:`LaneStatus.new_incidents`), so a handoff is raised once per incident, not per frame.
A stale camera (no frames for its timeout) resets every lane to unknown.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from restock.vision.lanes import LaneReading

State = Literal["present", "empty", "unknown"]
Flag = Literal["unfamiliar", "obstruction"]


@dataclass(frozen=True)
class FilterConfig:
    confirm_frames: int = 3  # frames seeing the front that must agree before the state changes
    flag_frames: int = 2  # consecutive frames to raise (and to clear) an unfamiliar/obstruction flag
    hold_s: float = 10.0  # hold the last state this long while the front is hidden, then unknown

    def __post_init__(self) -> None:
        if self.confirm_frames < 1 or self.flag_frames < 1 or self.hold_s < 0:
            raise ValueError(f"invalid filter config {self}")


@dataclass
class _Track:
    state: State = "unknown"
    confidence: float = 0.0
    sku_seen: str | None = None
    last_seen_s: float | None = None  # when the front was last visible
    recent: deque = field(default_factory=deque)  # evidence of the last frames that saw the front
    flags: dict = field(default_factory=lambda: {"unfamiliar": False, "obstruction": False})
    flag_runs: dict = field(default_factory=lambda: {"unfamiliar": 0, "obstruction": 0})
    hand: bool = False


@dataclass(frozen=True)
class LaneStatus:
    lane_id: str
    state: State
    confidence: float
    sku_seen: str | None
    unfamiliar: bool
    obstruction: bool
    hand: bool
    new_incidents: tuple[Flag, ...] = ()  # flags that rose on this frame


class LaneFilter:
    """Filter for the lanes of one camera."""

    def __init__(self, lane_ids: list[str], config: FilterConfig = FilterConfig()) -> None:
        self.config = config
        self.tracks: dict[str, _Track] = {lid: _Track() for lid in lane_ids}

    def reset(self) -> None:
        """Forget everything (stale camera): all lanes unknown, flags down."""
        self.tracks = {lid: _Track() for lid in self.tracks}

    def update(self, readings: list[LaneReading], now_s: float) -> list[LaneStatus]:
        by_id = {r.lane_id: r for r in readings}
        out = []
        for lane_id, track in self.tracks.items():
            reading = by_id.get(lane_id)
            out.append(self._update_lane(lane_id, track, reading, now_s))
        return out

    def _update_lane(self, lane_id: str, t: _Track, r: LaneReading | None, now_s: float) -> LaneStatus:
        cfg = self.config
        risen: list[Flag] = []
        if r is not None:
            t.hand = r.hand
            for flag in ("unfamiliar", "obstruction"):
                on = bool(getattr(r, flag))
                if on != t.flags[flag]:
                    t.flag_runs[flag] += 1
                    if t.flag_runs[flag] >= cfg.flag_frames:
                        t.flags[flag], t.flag_runs[flag] = on, 0
                        if on:
                            risen.append(flag)  # type: ignore[arg-type]
                else:
                    t.flag_runs[flag] = 0
            if r.evidence in ("present", "empty"):
                t.last_seen_s = now_s
                t.recent.append((r.evidence, r.confidence, r.sku_seen))
                while len(t.recent) > cfg.confirm_frames:
                    t.recent.popleft()
                states = {e for e, _, _ in t.recent}
                if len(t.recent) == cfg.confirm_frames and len(states) == 1:
                    t.state = r.evidence
                    t.confidence = min(c for _, c, _ in t.recent)
                    t.sku_seen = r.sku_seen if r.evidence == "present" else None
                elif t.state == r.evidence:
                    t.confidence = r.confidence
                    if r.evidence == "present" and r.sku_seen is not None:
                        t.sku_seen = r.sku_seen
            elif r.evidence == "none":
                # The detector saw neither a container nor an empty front: not evidence of a
                # change, and not a hidden front either; it only ages the last state.
                pass
        else:
            t.hand = False
        if t.state != "unknown" and (t.last_seen_s is None or now_s - t.last_seen_s > cfg.hold_s):
            t.state, t.confidence, t.sku_seen = "unknown", 0.0, None
            t.recent.clear()
        return LaneStatus(
            lane_id=lane_id,
            state=t.state,
            confidence=t.confidence if t.state != "unknown" else 0.0,
            sku_seen=t.sku_seen if t.state == "present" else None,
            unfamiliar=t.flags["unfamiliar"],
            obstruction=t.flags["obstruction"],
            hand=t.hand,
            new_incidents=tuple(risen),
        )
