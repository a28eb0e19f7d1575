"""Where an operator's pose spends its time on the way to the arm: per-stage stamps, one summary
line per operator's stretch of control.

Every stamp is wall time (``time.time()``) on the machine that took it: the operator's send (the
pose's ``sent``, when it is epoch milliseconds as the benches send it; a browser's is its own page
clock, and that stage is left out), the fleet service's receipt and relay (stamped into the relayed
command), the robot's link receipt, the bridge's loop taking it, and the target published on DDS.
Stages between two machines are only as good as their clocks agree (one machine in the benches).
A summary is logged when the operator hands the robot back or their connection or link ends
(bench/fleet_teleop.py prints it). No rclpy.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("restock.teleop")

# (from, to, what): the stages of a pose, in order; a pose has the ones its path stamped.
STAGES = (
    ("sent", "service_in", "operator -> fleet service"),
    ("service_in", "service_out", "fleet service (parse, check, relay)"),
    ("service_out", "link_in", "fleet service -> robot link (WSS)"),
    ("link_in", "loop", "robot link -> bridge rules (its loop)"),
    ("sent", "loop", "operator -> bridge loop (WSS)"),
    ("loop", "published", "bridge rules -> target published"),
)
MAX_POSES = 100_000  # per operator between summaries: a stretch of control longer than ~25 min at 60 Hz is cut
EPOCH_WINDOW_S = 60.0  # a ``sent`` within this of the bridge's clock is taken as epoch milliseconds


class CommandTrace:
    def __init__(self) -> None:
        self._poses: dict[str, list[dict[str, float]]] = {}

    def pose(self, who: str, sent_ms: float | None, **stamps: float | None) -> None:
        """One pose's stamps (``loop`` and ``published`` always; the fleet's when relayed)."""
        poses = self._poses.setdefault(who, [])
        if len(poses) >= MAX_POSES:
            return
        kept = {k: v for k, v in stamps.items() if v is not None}
        if sent_ms is not None and abs(sent_ms / 1000.0 - kept.get("published", 0.0)) < EPOCH_WINDOW_S:
            kept["sent"] = sent_ms / 1000.0
        poses.append(kept)

    def log(self, who: str) -> None:
        """``who``'s summary as one log line, if they sent any pose since the last."""
        if (line := self.summary(who)) is not None:
            log.info("%s", line)

    def summary(self, who: str) -> str | None:
        """The percentiles of each stage of ``who``'s poses since the last summary (then forgotten)."""
        poses = self._poses.pop(who, [])
        if not poses:
            return None
        parts = [f"teleop trace {who}: {len(poses)} poses"]
        for a, b, label in STAGES:
            ms = np.array([(p[b] - p[a]) * 1000.0 for p in poses if a in p and b in p])
            if ms.size:
                p50, p90, p99 = np.percentile(ms, (50, 90, 99))
                parts.append(f"{label}: p50={p50:.2f} p90={p90:.2f} p99={p99:.2f} max={ms.max():.2f} ms")
        return " | ".join(parts)
