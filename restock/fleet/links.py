"""What the fleet service keeps of an open WebSocket, and a refusal on its way to the one refusal path."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from restock.fleet.store import Actor
from restock.teleop import protocol as P


class Refused(Exception):
    def __init__(self, kind: str, reason: str, public: str, status: int = 400, actor: Actor | None = None,
                 peer: str | None = None, robot: str | None = None) -> None:  # fmt: skip
        super().__init__(reason)
        self.kind, self.reason, self.public, self.status = kind, reason, public, status
        self.actor, self.peer, self.robot = actor, peer, robot


@dataclass(eq=False)
class Link:
    """One open WebSocket: an operator's (actor set) or a robot's (robot set)."""

    id: str
    ws: web.WebSocketResponse
    peer: str
    rate: P.RateLimit
    actor: Actor | None = None
    token_sha: bytes | None = None
    robot: str | None = None
    tenant: str = ""
    bad: int = 0
    session_checked: float = -1e18  # monotonic time the session was last read live (-inf: ended)
    controls: dict[str, int] = field(default_factory=dict)  # robot -> handoff it holds (cache; cleared on queue news)
    relayed: dict[str, int] = field(default_factory=dict)  # "robot message-type" -> commands relayed
    watching: dict[str, str] = field(default_factory=dict)  # robot -> camera this operator link watches
    frame_busy: bool = False  # a frame is being written to this operator's socket
    pending_frame: bytes | None = None  # the newest frame not yet sent (a newer one replaces it)
    frames_paced: bool = False  # the page says when it took a frame (frame_shown): at most FRAMES_IN_FLIGHT
    frames_in_flight: int = 0  # sent, not yet taken
    frame_sent_at: float = 0.0  # monotonic time the last frame went
    frames: int = 0  # frames sent to this operator link
    frames_dropped: int = 0  # replaced by a newer one before they went
